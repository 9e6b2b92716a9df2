// The deck in headless Chromium: every slide is visited and must have no console error, no
// failed or off-site request, a speaker note (unless it is a section title), and content
// that fits the 1280×720 slide; the PDF export must have one page per slide.
//
// Run after building: `make test-slides` (or `hugo -d public && npm test` in slides/).
// SLIDES_PUBLIC=dir picks the built site (default: public).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../scripts/serve.mjs';
import { launch, SLIDE } from '../scripts/browser.mjs';
import { exportPdf } from '../scripts/pdf.mjs';

const PUBLIC = process.env.SLIDES_PUBLIC || 'public';
/** Layout tolerance in CSS pixels (sub-pixel rounding). */
const SLACK = 2;

let server;
let browser;
let deck; // what the visit found, for the PDF test

before(async () => {
  server = await serve(PUBLIC);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Open the deck and record every problem the browser reports. */
async function openDeck(url) {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on('request', (req) => {
    const target = req.url();
    if (!target.startsWith(server.url) && !/^(data|blob|about):/.test(target)) {
      problems.push(`request leaves the site (the deck must work offline): ${target}`);
    }
  });
  page.on('requestfailed', (req) =>
    problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.documentElement.dataset.deckReady === 'true', null, {
    timeout: 60_000,
  });
  return { page, problems };
}

test('every slide: no errors, speaker notes, fits 1280×720', async (t) => {
  const { page, problems } = await openDeck(server.url);

  const info = await page.evaluate(() => ({
    total: window.Reveal.getTotalSlides(),
    config: { width: window.Reveal.getConfig().width, height: window.Reveal.getConfig().height },
    notesPlugin: Boolean(window.Reveal.getPlugin('notes')),
    highlightPlugin: Boolean(window.Reveal.getPlugin('highlight')),
    includes: document.querySelectorAll('[data-include]').length,
    mermaid: document.querySelectorAll('div.mermaid svg').length,
    indices: window.Reveal.getSlides().map((s) => window.Reveal.getIndices(s)),
  }));
  assert.deepEqual(info.config, SLIDE, 'the deck must be configured for 1280×720');
  assert.ok(info.notesPlugin, 'the notes plugin (speaker view) must be loaded');
  assert.ok(info.highlightPlugin, 'the highlight plugin must be loaded');
  assert.ok(info.total > 0, 'the deck has no slides');

  // Measure slides where they rest, not halfway through a transition.
  await page.evaluate(() =>
    window.Reveal.configure({ transition: 'none', backgroundTransition: 'none' }),
  );
  const missingNotes = [];
  const overflowing = [];
  for (const { h, v } of info.indices) {
    const slide = await page.evaluate(
      ({ h, v, slack }) => {
        window.Reveal.slide(h, v ?? 0);
        const section = window.Reveal.getCurrentSlide();
        const title =
          section.querySelector('h1, h2, h3')?.textContent.trim() ||
          section.textContent.trim().slice(0, 40);
        const isSectionTitle = section.classList.contains('section-title');
        const notes = (window.Reveal.getSlideNotes(section) || '')
          .replace(/<[^>]*>/g, '')
          .trim();
        // Content must fit in the slide, measured in slide pixels (the page is scaled).
        const scale = window.Reveal.getScale();
        const box = document.querySelector('.reveal .slides').getBoundingClientRect();
        const issues = [];
        for (const el of section.querySelectorAll('*')) {
          if (el.closest('aside.notes')) continue;
          const r = el.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) continue;
          const top = (r.top - box.top) / scale;
          const left = (r.left - box.left) / scale;
          const bottom = (r.bottom - box.top) / scale;
          const right = (r.right - box.left) / scale;
          if (top < -slack || left < -slack || bottom > 720 + slack || right > 1280 + slack) {
            issues.push(
              `<${el.tagName.toLowerCase()}> spans x ${Math.round(left)}…${Math.round(right)}, y ${Math.round(top)}…${Math.round(bottom)}`,
            );
            break;
          }
          // Content hidden behind a scroll bar (a code block too long or too wide).
          const style = getComputedStyle(el);
          const clips = (o) => o !== 'visible';
          if (
            (clips(style.overflowY) && el.scrollHeight > el.clientHeight + slack) ||
            (clips(style.overflowX) && el.scrollWidth > el.clientWidth + slack)
          ) {
            issues.push(
              `<${el.tagName.toLowerCase()}> scrolls: content ${el.scrollWidth}×${el.scrollHeight} in ${el.clientWidth}×${el.clientHeight}`,
            );
            break;
          }
        }
        return { title, isSectionTitle, notes, issues };
      },
      { h, v, slack: SLACK },
    );
    const where = `slide ${h + 1}${v ? `.${v + 1}` : ''} "${slide.title}"`;
    if (!slide.isSectionTitle && slide.notes === '') missingNotes.push(where);
    if (slide.issues.length) overflowing.push(`${where}: ${slide.issues.join('; ')}`);
  }
  await page.close();

  deck = info;
  t.diagnostic(
    `${info.total} slides, ${info.includes} included snippets, ${info.mermaid} mermaid diagrams`,
  );
  assert.deepEqual(problems, [], 'the browser reported problems');
  assert.deepEqual(missingNotes, [], 'content slides without speaker notes');
  assert.deepEqual(overflowing, [], 'slides whose content does not fit 1280×720');
});

test('the PDF export has one page per slide', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slides-pdf-'));
  const out = join(dir, 'slides.pdf');
  try {
    const { page, problems } = await openDeck(server.url);
    const total = await page.evaluate(() => window.Reveal.getTotalSlides());
    await page.close();
    await exportPdf(browser.context, server.url, out);
    const pages = pdfPages(out, await readFile(out));
    t.diagnostic(`${pages} PDF pages for ${total} slides`);
    assert.deepEqual(problems, [], 'the browser reported problems');
    assert.equal(pages, total, 'PDF pages ≠ slides (a slide too tall spills onto a second page)');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Page count from poppler's pdfinfo, or by counting page objects if it is missing. */
function pdfPages(path, bytes) {
  try {
    const info = execFileSync('pdfinfo', [path], { encoding: 'utf8' });
    return Number(/^Pages:\s+(\d+)/m.exec(info)[1]);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    return (bytes.toString('latin1').match(/\/Type\s*\/Page\b(?!s)/g) || []).length;
  }
}
