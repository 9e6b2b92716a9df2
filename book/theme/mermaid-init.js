// Draws the book's ```mermaid code blocks as diagrams, offline: mermaid.min.js is served by
// the book itself (scripts/book-tools.sh copies it from the slide deck's npm packages). As the
// deck does (slides/static/js/deck.js): startOnLoad off, securityLevel strict, one
// mermaid.render per block, the <pre> replaced by the SVG. The book's dark themes (coal, navy,
// ayu) get mermaid's dark theme, and a theme switch draws the diagrams again.
(() => {
  'use strict';
  const DARK_THEMES = ['coal', 'navy', 'ayu'];
  // mdBook renders ```mermaid as <pre><code class="language-mermaid">; highlight.js, which
  // has no mermaid grammar, leaves the text as it is.
  const blocks = Array.from(document.querySelectorAll('pre > code.language-mermaid'));
  if (blocks.length === 0) return;
  if (!window.mermaid) {
    console.error('mermaid.min.js is missing: run scripts/book-tools.sh (make book does)');
    return;
  }
  const diagrams = blocks.map((code) => {
    const div = document.createElement('div');
    div.className = 'mermaid';
    div.style.textAlign = 'center';
    div.dataset.source = code.textContent;
    code.parentElement.replaceWith(div);
    return div;
  });

  const wantedTheme = () =>
    DARK_THEMES.some((t) => document.documentElement.classList.contains(t)) ? 'dark' : 'default';
  let drawnTheme = null;
  let counter = 0;
  let drawing = Promise.resolve();

  async function draw() {
    const theme = wantedTheme();
    if (theme === drawnTheme) return;
    drawnTheme = theme;
    window.mermaid.initialize({ startOnLoad: false, theme, securityLevel: 'strict' });
    for (const div of diagrams) {
      try {
        const { svg } = await window.mermaid.render(`mermaid-${counter++}`, div.dataset.source);
        div.innerHTML = svg;
      } catch (err) {
        // Show the source rather than nothing, and say why.
        div.textContent = div.dataset.source;
        div.style.whiteSpace = 'pre';
        div.style.textAlign = 'left';
        console.error('mermaid could not draw a diagram:', err);
      }
    }
  }

  const redraw = () => {
    drawing = drawing.then(draw);
  };
  redraw();
  new MutationObserver(redraw).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ['class'],
  });
})();
