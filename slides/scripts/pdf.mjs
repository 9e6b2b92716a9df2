// `make slides-pdf`: the built deck → a PDF, one page per slide, via reveal.js' ?print-pdf.
// Usage: node scripts/pdf.mjs [public-dir] [out.pdf]
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

export async function exportPdf(context, url, out) {
  const page = await context.newPage();
  await page.goto(`${url}?print-pdf`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.documentElement.dataset.deckReady === 'true', null, {
    timeout: 60_000,
  });
  // reveal.js lays out the print pages after 'ready'; wait until they exist.
  await page.waitForFunction(() => document.querySelectorAll('.pdf-page').length > 0, null, {
    timeout: 60_000,
  });
  await page.pdf({ path: out, preferCSSPageSize: true, printBackground: true });
  await page.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] || 'public';
  const out = process.argv[3] || 'slides.pdf';
  const server = await serve(root);
  const browser = await launch();
  try {
    await exportPdf(browser.context, server.url, out);
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await server.close();
  }
}
