// One event, two outputs, as SVG: the line stdout printed and the OTLP log record the bridge
// exported for the same `tracing` event, drawn from what a test really captured — no
// screenshots, no hand-typed values.
//
//   LOGS_DUMP=/tmp/logs.json cargo test -p step5-logs --test contract log_records_carry_their_request_context_http
//   cp /tmp/logs.json data/logs-user-service.json
//   node scripts/logrecord.mjs data/logs-user-service.json static/images/logs-user-service.svg
//
// Input: { captured_by, events: [{ stdout, record: { time_unix_nano, observed_time_unix_nano,
// severity_number, severity_text, body, attributes, trace_id, span_id, event_name, scope,
// resource } }] } (crates/testkit/src/contract/step5.rs, dump_records). On top, the stdout
// lines as a terminal shows them; below, one column per record, one row per field. Labels in
// orange: what the stdout line does not have (the trace context, the resource).
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/logrecord.mjs logs.json out.svg');
  process.exit(2);
}
// Nanosecond timestamps are past 2^53: read them as strings, or JSON.parse rounds them.
const text = readFileSync(input, 'utf8').replace(/("\w*unix_nano"\s*:\s*)(\d+)/g, '$1"$2"');
const dump = JSON.parse(text);
const events = dump.events;
if (!Array.isArray(events) || events.length === 0) throw new Error(`${input}: no events`);
if (events.length > 3) throw new Error(`${input}: ${events.length} events; the picture has room for 3`);
for (const [i, { stdout, record }] of events.entries()) {
  const where = `${input}: event ${i + 1}`;
  if (!stdout) throw new Error(`${where}: no stdout line (was the event printed?)`);
  if (!record) throw new Error(`${where}: no record`);
  for (const key of ['severity_number', 'severity_text', 'body', 'scope', 'event_name', 'observed_time_unix_nano']) {
    if (record[key] == null) throw new Error(`${where}: the record has no ${key}`);
  }
  if (!stdout.includes(record.body)) throw new Error(`${where}: the stdout line is not the record's event`);
}

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
/** Unix nanoseconds (a decimal string) as RFC 3339 with all nine digits. */
function isoNanos(nanos) {
  const ns = BigInt(nanos);
  const ms = ns / 1_000_000n;
  const seconds = new Date(Number(ms)).toISOString().slice(0, 19);
  return `${seconds}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
}
const severityColour = (n) => (n >= 17 ? '#ed8796' : n >= 13 ? '#eed49f' : n >= 9 ? '#a6da95' : '#8aadf4');
const badgeColours = ['#8aadf4', '#c6a0f6', '#f5a97f'];
const TEXT = '#cad3f5';
const MUTED = '#8087a2';
const LABEL = '#a5adcb';
const ACCENT = '#f5a97f';
const MONO = 'DejaVu Sans Mono, Menlo, Consolas, monospace';
const SANS = 'Source Sans Pro, Helvetica, Arial, sans-serif';

/** The fmt layer's line, `<time>  <LEVEL> <target>: <message> k=v…`, in its parts. */
function stdoutParts(line) {
  const m = /^(\S+)(\s+)(TRACE|DEBUG|INFO|WARN|ERROR)(\s+)(\S+?):\s(.*)$/.exec(line);
  if (!m) return [[line, TEXT]];
  const [, time, gap1, level, gap2, target, rest] = m;
  const [, message, fields] = /^(.*?)((?:\s\w+=(?:"[^"]*"|\S+))*)$/.exec(rest);
  const number = { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17 }[level];
  return [
    [time, MUTED],
    [gap1, TEXT],
    [level, severityColour(number)],
    [gap2, TEXT],
    [`${target}:`, '#8aadf4'],
    [` ${message}`, TEXT],
    [fields, LABEL],
  ];
}

/** An attribute as the record types it: strings quoted, numbers bare, and the type. */
const attribute = ([key, value]) => [
  [`${key} = `, TEXT],
  [typeof value === 'string' ? `"${value}"` : String(value), typeof value === 'string' ? '#a6da95' : ACCENT],
  [typeof value === 'string' ? '  string' : Number.isInteger(value) ? '  int' : `  ${typeof value}`, MUTED],
];

// The record's rows: [label, record-only?, (record) → lines of [text, colour] runs].
const rows = [
  ['severity', false, (r) => [[[`${r.severity_number} · `, TEXT], [r.severity_text, severityColour(r.severity_number)]]]],
  ['body', false, (r) => [[[`"${r.body}"`, TEXT]]]],
  [
    'attributes',
    false,
    (r) => {
      const entries = Object.entries(r.attributes ?? {});
      return entries.length ? entries.map(attribute) : [[['(none)', MUTED]]];
    },
  ],
  ['trace_id', true, (r) => [[[r.trace_id ?? '(none: outside any span)', r.trace_id ? TEXT : MUTED]]]],
  ['span_id', true, (r) => [[[r.span_id ?? '(none)', r.span_id ? TEXT : MUTED]]]],
  ['scope name', false, (r) => [[[r.scope, '#8aadf4']]]],
  ['event_name', false, (r) => [[[r.event_name, MUTED]]]],
  ['time_unix_nano', false, (r) => [[[String(r.time_unix_nano), ACCENT], ['  not set', MUTED]]]],
  ['observed_time', false, (r) => [[[isoNanos(r.observed_time_unix_nano), TEXT]]]],
  [
    'resource',
    true,
    (r) => Object.entries(r.resource ?? {}).map(([k, v]) => [[`${k} = `, TEXT], [`"${v}"`, '#a6da95']]),
  ],
];

// Layout
const W = 1200;
const lineH = 20;
const termTop = 34;
const termH = events.length * 26 + 12;
const tableLabelTop = termTop + termH + 34;
const headerTop = tableLabelTop + 16;
const labelW = 150;
const colW = (W - labelW) / events.length;
const rowLines = rows.map(([, , cell]) => Math.max(...events.map((e) => cell(e.record).length)));
const rowTop = [];
let y = headerTop + 30;
for (const n of rowLines) {
  rowTop.push(y);
  y += n * lineH + 5;
}
const H = y + 8;

const runs = (parts) =>
  parts.map(([t, colour]) => `<tspan fill="${colour}">${esc(t)}</tspan>`).join('');
const badge = (i, cx, cy) =>
  `<circle cx="${cx}" cy="${cy}" r="10" fill="${badgeColours[i % badgeColours.length]}"/>` +
  `<text x="${cx}" y="${cy + 5}" fill="#1e2030" font-size="14" font-weight="bold" text-anchor="middle" font-family="${SANS}">${i + 1}</text>`;

const out = [];
const service = events[0].record.resource?.['service.name'] ?? 'the service';
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="${SANS}" role="img" aria-label="${events.length} tracing events of ${esc(service)}: the stdout line and the exported OTLP log record of each">`,
  `<title>${esc(service)}: ${events.length} events, each as a stdout line and as an OTLP log record (${esc(dump.captured_by ?? input)})</title>`,
);
// stdout
out.push(
  `<text x="4" y="${termTop - 12}" fill="${TEXT}" font-size="19">stdout<tspan fill="${MUTED}" font-size="16"> · fmt layer, filtered by RUST_LOG · plain text (not a terminal: no colours)</tspan></text>`,
  `<rect x="0" y="${termTop}" width="${W}" height="${termH}" rx="6" fill="#181926" stroke="#363a4f"/>`,
);
events.forEach(({ stdout }, i) => {
  const ly = termTop + 24 + i * 26;
  out.push(badge(i, 20, ly - 5), `<text x="40" y="${ly}" font-family="${MONO}" font-size="15" xml:space="preserve">${runs(stdoutParts(stdout))}</text>`);
});
// records
out.push(
  `<text x="4" y="${tableLabelTop}" fill="${TEXT}" font-size="19">OTLP log record<tspan fill="${MUTED}" font-size="16"> · the bridge, filtered by LOG_EXPORT_FILTER → logger provider → collector → Loki · </tspan><tspan fill="${ACCENT}" font-size="16">orange: not on the line</tspan></text>`,
);
events.forEach((_, i) => {
  const x = labelW + i * colW;
  out.push(
    `<rect x="${x + 2}" y="${headerTop}" width="${colW - 4}" height="${H - headerTop - 4}" rx="6" fill="#ffffff" fill-opacity="0.04"/>`,
    badge(i, x + 20, headerTop + 15),
    `<text x="${x + 38}" y="${headerTop + 20}" fill="${LABEL}" font-size="15">record ${i + 1}</text>`,
  );
});
rows.forEach(([label, recordOnly, cell], r) => {
  const top = rowTop[r];
  out.push(
    `<line x1="0" y1="${top - 3}" x2="${W}" y2="${top - 3}" stroke="#363a4f" stroke-width="1"/>`,
    `<text x="4" y="${top + 15}" fill="${recordOnly ? ACCENT : LABEL}" font-family="${MONO}" font-size="13">${esc(label)}</text>`,
  );
  events.forEach(({ record }, i) => {
    const x = labelW + i * colW + 12;
    cell(record).forEach((parts, k) => {
      out.push(
        `<text x="${x}" y="${top + 15 + k * lineH}" font-family="${MONO}" font-size="13" xml:space="preserve">${runs(parts)}</text>`,
      );
    });
  });
});
out.push('</svg>');
writeFileSync(output, `${out.join('\n')}\n`);

const traces = new Set(events.map((e) => e.record.trace_id).filter(Boolean));
console.log(
  `${output}: ${events.length} events of ${service}, ${traces.size} traces, ${events.reduce((n, e) => n + Object.keys(e.record.attributes ?? {}).length, 0)} attributes (${dump.captured_by ?? 'no captured_by'})`,
);
