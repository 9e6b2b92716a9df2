// Starts the deck: mermaid diagrams first (rendered while every slide is still measurable),
// then reveal.js. Everything it loads comes from this site; nothing from the network.
(async () => {
  // `- item` lists followed by `{.fragments}` reveal one item per step.
  document
    .querySelectorAll('ul.fragments > li, ol.fragments > li')
    .forEach((li) => li.classList.add('fragment'));

  if (window.mermaid) {
    window.mermaid.initialize({
      startOnLoad: false,
      theme: window.DECK.mermaidTheme,
      securityLevel: 'strict',
      fontFamily: 'Source Sans Pro, Helvetica, sans-serif',
      themeVariables: { fontSize: '20px' },
    });
    const diagrams = document.querySelectorAll('pre.mermaid');
    for (const [i, pre] of diagrams.entries()) {
      // mermaid.render lays the diagram out in a scratch element: the slides are hidden now.
      const { svg } = await window.mermaid.render(`mermaid-${i}`, pre.textContent);
      const div = document.createElement('div');
      div.className = 'mermaid';
      div.innerHTML = svg;
      pre.replaceWith(div);
    }
  }

  await window.Reveal.initialize({
    width: 1280,
    height: 720,
    margin: 0.04,
    hash: true,
    controls: true,
    progress: true,
    slideNumber: 'c/t',
    showSlideNumber: 'all',
    center: true,
    transition: 'slide',
    // One PDF page per slide: fragments and code steps are shown in their final state.
    pdfSeparateFragments: false,
    plugins: [window.RevealHighlight, window.RevealNotes, window.RevealZoom],
  });
  document.documentElement.dataset.deckReady = 'true';
})().catch((err) => {
  console.error('deck failed to start:', err);
});
