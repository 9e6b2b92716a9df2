// The deck in headless Chromium: every slide is visited and must have no console error, no
// failed or off-site request, a speaker note (unless it is a section title), and content
// that fits the 1280×720 slide; the PDF export must have one page per slide. Every section
// (content/deck/*.md) must give its `minutes` (the workshop talk, every slide) and its
// `talk_minutes` (the conference cut, without the slides of class `workshop-only`) in front
// matter; the test prints both lengths and fails when the conference cut does not fit a slot.
// It also builds both cuts (HUGO_PARAMS_TALK) and checks that the conference cut hides exactly
// the workshop-only slides.
//
// Run after building: `make test-slides` (or `hugo -d public && npm test` in slides/).
// SLIDES_PUBLIC=dir picks the built site (default: public); HUGO=path the hugo binary.
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
/** The Hugo site, for building the two cuts. */
const SITE = fileURLToPath(new URL('..', import.meta.url));
/** A conference slot leaves this many minutes for the talk: the conference cut must fit. */
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
  const site = new URL('/', url).href;
  const page = await browser.context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on('request', (req) => {
    const target = req.url();
    if (!target.startsWith(site) && !/^(data|blob|about):/.test(target)) {
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
    talk: window.DECK.talk,
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
    `${info.total} slides (${info.talk === 'conference' ? 'conference cut' : 'workshop talk'}), ${info.includes} included snippets, ${info.mermaid} mermaid diagrams`,
  );
  assert.deepEqual(problems, [], 'the browser reported problems');
  assert.deepEqual(missingNotes, [], 'content slides without speaker notes');
  assert.deepEqual(overflowing, [], 'slides whose content does not fit 1280×720');
});

/** A number from a section's TOML front matter (`minutes = 4  # comment`), or undefined. */
function frontNumber(front, key) {
  const value = new RegExp(`^${key}\\s*=\\s*([0-9.]+)\\s*(?:#.*)?$`, 'm').exec(front)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** A slide marked `{{< slide class="… workshop-only …" >}}`: left out of the conference cut. */
const WORKSHOP_ONLY = /\{\{<\s*slide\b[^>]*\bclass="[^"]*\bworkshop-only\b/;

/**
 * Each section file: its `minutes` (the workshop talk) and `talk_minutes` (the conference cut)
 * from its TOML front matter, and how many of its slides are workshop-only.
 */
async function sectionMinutes() {
  const files = (await readdir(SECTIONS)).filter((f) => f.endsWith('.md') && f !== '_index.md');
  const sections = [];
  for (const file of files.sort()) {
    const text = await readFile(join(SECTIONS, file), 'utf8');
    const [, front = '', body = text] = /^\+\+\+\n([\s\S]*?)\n\+\+\+\n?([\s\S]*)$/.exec(text) ?? [];
    sections.push({
      file,
      minutes: frontNumber(front, 'minutes'),
      talkMinutes: frontNumber(front, 'talk_minutes'),
      workshopOnly: body.split(/^---[ \t]*$/m).filter((slide) => WORKSHOP_ONLY.test(slide)).length,
    });
  }
  return sections;
}

const sum = (sections, key) => sections.reduce((total, s) => total + s[key], 0);

test('every section has its minutes; the conference cut fits a slot', async (t) => {
  const sections = await sectionMinutes();
  assert.ok(sections.length > 0, `no sections in ${SECTIONS}`);
  const missing = (key) =>
    sections.filter((s) => !(s[key] > 0)).map(({ file }) => `content/deck/${file}`);
  assert.deepEqual(
    missing('minutes'),
    [],
    'sections without `minutes = N` (N > 0, the workshop talk) in their front matter',
  );
  assert.deepEqual(
    missing('talkMinutes'),
    [],
    'sections without `talk_minutes = N` (N > 0, the conference cut) in their front matter',
  );

  const workshop = sum(sections, 'minutes');
  const conference = sum(sections, 'talkMinutes');
  t.diagnostic(`workshop talk: ${workshop} min over ${sections.length} sections`);
  t.diagnostic(
    `conference cut: ${conference} min, without ${sum(sections, 'workshopOnly')} workshop-only slides`,
  );
  t.diagnostic(
    'minutes (workshop/conference): ' +
      sections.map((s) => `${s.file} ${s.minutes}/${s.talkMinutes}`).join(', '),
  );
  if (conference < SLOT.min) {
    t.diagnostic(`${SLOT.min - conference} min short of a ${SLOT.min}–${SLOT.max} min slot`);
  }
  assert.ok(
    conference <= SLOT.max,
    `the conference cut takes ${conference} min, ${conference - SLOT.max} over a ${SLOT.min}–${SLOT.max} min slot: lower some talk_minutes, mark more slides workshop-only`,
  );

  // The presenter sees each section's minutes in the notes of its first slide.
  if (deck) {
    assert.equal(deck.timings, sections.length, 'sections whose first slide has no timing note');
  }
});

/** Build one cut of the deck into a fresh directory; returns the directory. */
async function buildCut(talk) {
  const dir = await mkdtemp(join(tmpdir(), `slides-${talk}-`));
  try {
    execFileSync(process.env.HUGO || 'hugo', ['--quiet', '--destination', dir], {
      cwd: SITE,
      env: { ...process.env, HUGO_PARAMS_TALK: talk },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** Every slide of a built cut, as reveal.js keeps it after starting (hidden slides are gone). */
async function cutSlides(dir) {
  const site = await serve(dir);
  try {
    const { page, problems } = await openDeck(site.url);
    const found = await page.evaluate(() => ({
      talk: window.DECK.talk,
      total: window.Reveal.getTotalSlides(),
      timings: document.querySelectorAll('aside.notes.timing').length,
      slides: window.Reveal.getSlides().map((s) => ({
        title:
          s.querySelector('h1, h2, h3')?.textContent.trim() || s.textContent.trim().slice(0, 40),
        workshopOnly: s.classList.contains('workshop-only'),
      })),
    }));
    await page.close();
    return { ...found, problems };
  } finally {
    await site.close();
  }
}

test('the conference cut hides exactly the workshop-only slides', async (t) => {
  const sections = await sectionMinutes();
  const marked = sum(sections, 'workshopOnly');
  const dirs = [];
  try {
    dirs.push(await buildCut('workshop'));
    dirs.push(await buildCut('conference'));
    const [full, cut] = [await cutSlides(dirs[0]), await cutSlides(dirs[1])];
    t.diagnostic(
      `workshop talk: ${full.total} slides; conference cut: ${cut.total} slides (${full.total - cut.total} hidden, ${marked} marked workshop-only)`,
    );
    assert.deepEqual([full.talk, cut.talk], ['workshop', 'conference'], 'the builds\' params.talk');
    assert.deepEqual(full.problems, [], 'the browser reported problems (workshop talk)');
    assert.deepEqual(cut.problems, [], 'the browser reported problems (conference cut)');
    assert.equal(
      full.slides.filter((s) => s.workshopOnly).length,
      marked,
      'the workshop talk must show every slide marked workshop-only in content/deck/',
    );
    assert.deepEqual(
      cut.slides.filter((s) => s.workshopOnly).map((s) => s.title),
      [],
      'workshop-only slides left in the conference cut',
    );
    assert.deepEqual(
      cut.slides.map((s) => s.title),
      full.slides.filter((s) => !s.workshopOnly).map((s) => s.title),
      'the conference cut must be the workshop talk without its workshop-only slides',
    );
    assert.equal(cut.total, full.total - marked, 'slides in the conference cut');
    assert.equal(
      cut.timings,
      sections.length,
      'sections without a timing note in the conference cut (is every slide of one workshop-only?)',
    );
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
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
