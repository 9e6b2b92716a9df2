// The deck in headless Chromium: every slide is visited and must have no console error, no
// failed or off-site request, a speaker note (unless it is a section title), and content
// that fits the 1280×720 slide; the PDF export must have one page per slide. Every section
// (content/deck/*.md) must give its `minutes` in front matter; the test prints the talk's length.
//
// Run after building: `make test-slides` (or `hugo -d public && npm test` in slides/).
// SLIDES_PUBLIC=dir picks the built site (default: public).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { launch, SLIDE } from '../scripts/browser.mjs';
import { exportPdf } from '../scripts/pdf.mjs';

const PUBLIC = process.env.SLIDES_PUBLIC || 'public';
/** Layout tolerance in CSS pixels (sub-pixel rounding). */
const SLACK = 2;
/** The deck's sections: one Markdown file each. */
const SECTIONS = fileURLToPath(new URL('../content/deck/', import.meta.url));
/** A conference slot leaves this many minutes for the talk. */
const SLOT = { min: 40, max: 45 };

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
    timings: document.querySelectorAll('aside.notes.timing').length,
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
        // The section's timing (aside.timing, from its `minutes`) is not a speaker note.
        const notes = [...section.querySelectorAll('aside.notes:not(.timing)')]
          .map((aside) => aside.textContent)
          .join('')
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

/** The `minutes` of each section file, from its TOML front matter (`minutes = 4`). */
async function sectionMinutes() {
  const files = (await readdir(SECTIONS)).filter((f) => f.endsWith('.md') && f !== '_index.md');
  const sections = [];
  for (const file of files.sort()) {
    const text = await readFile(join(SECTIONS, file), 'utf8');
    const front = /^\+\+\+\n([\s\S]*?)\n\+\+\+/.exec(text)?.[1] ?? '';
    const value = /^minutes\s*=\s*([0-9.]+)\s*(?:#.*)?$/m.exec(front)?.[1];
    sections.push({ file, minutes: value === undefined ? undefined : Number(value) });
  }
  return sections;
}

test('every section has its minutes; the talk fits a slot', async (t) => {
  const sections = await sectionMinutes();
  assert.ok(sections.length > 0, `no sections in ${SECTIONS}`);
  const missing = sections
    .filter(({ minutes }) => !(minutes > 0))
    .map(({ file }) => `content/deck/${file}`);
  assert.deepEqual(missing, [], 'sections without `minutes = N` (N > 0) in their front matter');

  const total = sections.reduce((sum, { minutes }) => sum + minutes, 0);
  t.diagnostic(`talk length: ${total} min over ${sections.length} sections`);
  t.diagnostic(sections.map(({ file, minutes }) => `${file} ${minutes}`).join(', '));
  if (total > SLOT.max) {
    t.diagnostic(`${total - SLOT.max} min over a ${SLOT.min}–${SLOT.max} min conference slot`);
  } else if (total < SLOT.min) {
    t.diagnostic(`${SLOT.min - total} min short of a ${SLOT.min}–${SLOT.max} min conference slot`);
  }

  // The presenter sees each section's minutes in the notes of its first slide.
  if (deck) {
    assert.equal(deck.timings, sections.length, 'sections whose first slide has no timing note');
  }
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
