// A histogram metric as SVG, drawn from points a test really exported — no screenshots.
//
//   METRICS_DUMP=/tmp/metrics.json cargo test -p step4-metrics --test contract request_metrics_count_every_request_http
//   cp /tmp/metrics.json data/metrics-http-server-duration.json
//   node scripts/histogram.mjs data/metrics-http-server-duration.json static/images/metrics-http-server-duration.svg
//
// Input: { metric, unit, service, series: [{ attributes, explicit_bounds, bucket_counts,
// count, sum, min, max, exemplars }] } (crates/testkit/src/contract/step4.rs), the latest
// cumulative point of each series. One row per series (method, route, status): a bar per
// bucket, then the count, the mean (what _sum / _count give), the slowest request (OTLP's
// max, which Mimir's classic histogram does not keep) and the p95 that histogram_quantile
// would compute from the buckets.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/histogram.mjs metrics.json out.svg');
  process.exit(2);
}
const dump = JSON.parse(readFileSync(input, 'utf8'));
const series = dump.series;
if (!Array.isArray(series) || series.length === 0) throw new Error(`${input}: no series`);
if (dump.unit !== 's') throw new Error(`${input}: unit ${dump.unit}, expected s`);
const bounds = series[0].explicit_bounds;
for (const s of series) {
  if (JSON.stringify(s.explicit_bounds) !== JSON.stringify(bounds)) throw new Error('series with different buckets');
  if (s.bucket_counts.length !== bounds.length + 1) throw new Error('bucket_counts must have one more entry than explicit_bounds');
}

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const fmtSeconds = (s) => (s < 1 ? `${+(s * 1000).toFixed(2)} ms` : `${+s.toFixed(2)} s`);
const bucketLabel = (b) => String(b).replace(/^0\./, '.');

/** What PromQL's histogram_quantile(q, …) answers for one series: linear interpolation
 * inside the bucket that holds the q-th rank, from 0 for the first bucket. */
function histogramQuantile(q, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    if (cumulative + counts[i] >= rank && counts[i] > 0) {
      if (i === bounds.length) return bounds[bounds.length - 1]; // the +Inf bucket
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - cumulative) / counts[i]);
    }
    cumulative += counts[i];
  }
  return NaN;
}

// Rows: by route (POST before GET, known routes before none), then status.
const method = (s) => s.attributes['http.request.method'] ?? '';
const route = (s) => s.attributes['http.route'];
const status = (s) => s.attributes['http.response.status_code'] ?? 0;
const rows = [...series].sort(
  (a, b) =>
    (route(a) === undefined) - (route(b) === undefined) ||
    method(b).localeCompare(method(a)) ||
    (route(a) ?? '').localeCompare(route(b) ?? '') ||
    status(a) - status(b),
);
const maxCount = Math.max(...rows.flatMap((s) => s.bucket_counts));
const requests = rows.reduce((n, s) => n + s.count, 0);

// Layout
const W = 1200;
const labelW = 250;
const colW = 36;
const barsX = labelW + 10;
const cols = bounds.length + 1;
const statsX = barsX + cols * colW + 14;
const statCols = [
  ['n', (s) => String(s.count)],
  ['mean', (s) => fmtSeconds(s.sum / s.count)],
  ['slowest', (s) => (s.max == null ? '—' : fmtSeconds(s.max))],
  ['p95 from buckets', (s) => fmtSeconds(histogramQuantile(0.95, s.bucket_counts))],
];
const statW = [30, 84, 84, 150];
const rowH = 56;
const top = 70;
const H = top + rows.length * rowH + 34;
const colour = (code) => (code >= 500 ? '#ed8796' : code >= 400 ? '#eed49f' : '#a6da95');

const out = [];
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="Source Sans Pro, Helvetica, Arial, sans-serif" role="img" aria-label="Histogram ${esc(dump.metric)} of ${esc(dump.service)}: bucket counts per series">`,
);
out.push(
  `<title>${esc(dump.metric)} (${esc(dump.unit)}) of ${esc(dump.service)}: ${rows.length} series, ${requests} requests</title>`,
);
out.push(
  `<text x="8" y="22" fill="#cad3f5" font-size="19">${esc(dump.metric)}<tspan fill="#8087a2" font-size="16"> · ${esc(dump.service)} · ${rows.length} series, ${requests} requests · ${esc(dump.temporality)}</tspan></text>`,
  `<text x="${barsX + (cols * colW) / 2}" y="54" fill="#a5adcb" font-size="15" text-anchor="middle">requests per bucket, by upper bound: le, in seconds</text>`,
);
let sx = statsX;
statCols.forEach(([name], i) => {
  out.push(`<text x="${sx + statW[i]}" y="54" fill="#a5adcb" font-size="15" text-anchor="end">${esc(name)}</text>`);
  sx += statW[i] + 8;
});
for (let c = 0; c <= cols; c++) {
  const x = barsX + c * colW;
  out.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + rows.length * rowH}" stroke="#363a4f" stroke-width="1"/>`);
}
rows.forEach((s, i) => {
  const y = top + i * rowH;
  if (i % 2 === 0) out.push(`<rect x="0" y="${y}" width="${W}" height="${rowH}" fill="#ffffff" fill-opacity="0.03"/>`);
  const r = route(s);
  out.push(
    `<text x="8" y="${y + 34}" fill="#cad3f5" font-size="19">${esc(method(s))} ${r === undefined ? '<tspan fill="#8087a2" font-style="italic">(no http.route)</tspan>' : esc(r)}` +
      `<tspan fill="${colour(status(s))}" font-size="19"> ${esc(status(s))}</tspan></text>`,
  );
  s.bucket_counts.forEach((n, b) => {
    if (n === 0) return;
    const h = (n / maxCount) * (rowH - 20);
    const x = barsX + b * colW + 5;
    out.push(
      `<rect x="${x}" y="${(y + rowH - 4 - h).toFixed(1)}" width="${colW - 10}" height="${h.toFixed(1)}" rx="2" fill="${colour(status(s))}"/>`,
      `<text x="${x + (colW - 10) / 2}" y="${(y + rowH - 8 - h).toFixed(1)}" fill="#cad3f5" font-size="14" text-anchor="middle">${n}</text>`,
    );
  });
  let x = statsX;
  statCols.forEach(([, value], k) => {
    out.push(
      `<text x="${x + statW[k]}" y="${y + 34}" fill="${k === 3 ? '#f5a97f' : '#cad3f5'}" font-size="17" text-anchor="end">${esc(value(s))}</text>`,
    );
    x += statW[k] + 8;
  });
});
const axisY = top + rows.length * rowH + 20;
[...bounds.map(bucketLabel), '+Inf'].forEach((label, c) => {
  out.push(
    `<text x="${barsX + c * colW + colW / 2}" y="${axisY}" fill="#a5adcb" font-size="13" text-anchor="middle">${esc(label)}</text>`,
  );
});
out.push('</svg>');
writeFileSync(output, `${out.join('\n')}\n`);
console.log(
  `${output}: ${rows.length} series, ${requests} requests, ${series.reduce((n, s) => n + (s.exemplars ?? 0), 0)} exemplars`,
);
