// A trace waterfall as SVG, drawn from spans a test really exported — no screenshots.
//
//   TRACE_DUMP=/tmp/trace.json cargo test -p step3-db one_trace   # writes the JSON
//   node scripts/waterfall.mjs data/trace-post-users.json static/images/trace-post-users.svg
//
// Input: { "trace_id", "spans": [{ name, kind, service, span_id, parent_span_id,
// start_unix_nano, end_unix_nano, error }] } (crates/testkit/src/contract/step3.rs).
// Per-test topic names (test.user.created_<pid>_<n>_<hex>) are shown as the real topic name.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/waterfall.mjs trace.json out.svg');
  process.exit(2);
}
const { trace_id: traceId, spans } = JSON.parse(readFileSync(input, 'utf8'));
if (!Array.isArray(spans) || spans.length === 0) throw new Error(`${input}: no spans`);

const displayName = (name) => name.replace(/\btest\.([\w.]+?)_\d+_\d+_[0-9a-f]+\b/g, '$1');
const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

// Depth-first order from the root(s), children by start time.
const byId = new Map(spans.map((s) => [s.span_id, s]));
const children = new Map();
const roots = [];
for (const s of spans) {
  if (s.parent_span_id && byId.has(s.parent_span_id)) {
    if (!children.has(s.parent_span_id)) children.set(s.parent_span_id, []);
    children.get(s.parent_span_id).push(s);
  } else {
    roots.push(s);
  }
}
const byStart = (a, b) => Number(BigInt(a.start_unix_nano) - BigInt(b.start_unix_nano));
const rows = [];
const walk = (span, depth) => {
  rows.push({ span, depth });
  for (const child of (children.get(span.span_id) || []).sort(byStart)) walk(child, depth + 1);
};
roots.sort(byStart).forEach((r) => walk(r, 0));

const t0 = spans.map((s) => BigInt(s.start_unix_nano)).reduce((a, b) => (a < b ? a : b));
const t1 = spans.map((s) => BigInt(s.end_unix_nano)).reduce((a, b) => (a > b ? a : b));
const ms = (ns) => Number(BigInt(ns) - t0) / 1e6;
const totalMs = Number(t1 - t0) / 1e6;

// Layout
const W = 1200;
const labelW = 470;
const barX = labelW + 10;
const barW = W - barX - 90;
const rowH = 30;
const top = 34;
const H = top + rows.length * rowH + 12;
const x = (t) => barX + (t / totalMs) * barW;
const palette = ['#8aadf4', '#a6da95', '#f5a97f', '#c6a0f6', '#eed49f'];
const services = [...new Set(rows.map((r) => r.span.service))];
const colour = (s) => palette[services.indexOf(s) % palette.length];

// Axis: a "nice" step giving 4–8 ticks.
const steps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
const step = steps.find((s) => totalMs / s <= 8) ?? 10000;
const out = [];
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="Source Sans Pro, Helvetica, Arial, sans-serif" role="img" aria-label="Trace waterfall of trace ${esc(traceId)}">`,
);
out.push(`<title>Trace ${esc(traceId)}: ${rows.length} spans, ${totalMs.toFixed(1)} ms</title>`);
for (let t = 0; t <= totalMs + 1e-9; t += step) {
  out.push(
    `<line x1="${x(t).toFixed(1)}" y1="${top - 8}" x2="${x(t).toFixed(1)}" y2="${H - 8}" stroke="#494d64" stroke-width="1"/>`,
    `<text x="${x(t).toFixed(1)}" y="${top - 14}" fill="#a5adcb" font-size="14" text-anchor="middle">${t} ms</text>`,
  );
}
rows.forEach(({ span, depth }, i) => {
  const y = top + i * rowH;
  const start = ms(span.start_unix_nano);
  const end = ms(span.end_unix_nano);
  const bx = x(start);
  const bw = Math.max(x(end) - bx, 3);
  const fill = span.error ? '#ed8796' : colour(span.service);
  if (i % 2 === 0) {
    out.push(`<rect x="0" y="${y}" width="${W}" height="${rowH}" fill="#ffffff" fill-opacity="0.03"/>`);
  }
  out.push(
    `<text x="${8 + depth * 16}" y="${y + 20}" fill="#cad3f5" font-size="16">${esc(displayName(span.name))}` +
      `<tspan fill="#8087a2" font-size="12"> ${esc(span.kind.toLowerCase())} · ${esc(span.service)}</tspan></text>`,
    `<rect x="${bx.toFixed(1)}" y="${y + 7}" width="${bw.toFixed(1)}" height="${rowH - 14}" rx="3" fill="${fill}"/>`,
    `<text x="${(bx + bw + 6).toFixed(1)}" y="${y + 20}" fill="#a5adcb" font-size="13">${(end - start).toFixed(2)} ms</text>`,
  );
});
out.push('</svg>');
writeFileSync(output, `${out.join('\n')}\n`);
console.log(`${output}: ${rows.length} spans, ${totalMs.toFixed(1)} ms, trace ${traceId}`);
