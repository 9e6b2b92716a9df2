// What `make tail` prints for one trace, as SVG: the text otel-tail really wrote in its test,
// set in a terminal window with the colours it uses on a terminal — no screenshots.
//
//   TAIL_DUMP="$PWD/slides/data/tail-step3-sign-up.txt" cargo test -p otel-tail --test viewer the_step3
//   node slides/scripts/tail-waterfall.mjs slides/data/tail-step3-sign-up.txt slides/static/images/tail-step3-sign-up.svg
//
// Input: one trace block of `otel-tail --color never` (crates/tail/src/render.rs, Style::trace):
//   trace <id…> · <name> · <duration> · <n> spans · <services>
//     <indent><name>  <kind:8> <service:14> <duration:>9> <bar:30> <attributes> <↪ link: …>
// The lines are longer than a slide is wide, so three things change, the same way on every line:
// - the per-test topic (test.user.created_<pid>_<n>_<hex>) is shown as the real topic name, as
//   scripts/waterfall.mjs does, and the name column is as wide as the names then need;
// - an attribute whose value is a word of the span's name is left out: `http.route=/users` on
//   `POST /users`, `db.operation.name=INSERT` and `db.collection.name=users` on `INSERT users`,
//   `messaging.*.name` on `send user.created` — the line already says it;
// - a line still longer than the window is cut at its edge with `…`.
// Everything else — names, kinds, services, durations, bars, the other attributes, links — is
// drawn as read.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/tail-waterfall.mjs tail.txt out.svg');
  process.exit(2);
}
const lines = readFileSync(input, 'utf8').replace(/\n$/, '').split('\n');
const header = lines[0];
if (!/^trace \S+ · .+ · \d+ spans? · .+$/.test(header)) throw new Error(`${input}: line 1 is not a trace header: ${header}`);

// The attributes otel-tail prints (crates/tail/src/item.rs, KEY_ATTRIBUTES), to split a line's
// tail into them: a value (db.query.text) may hold spaces.
const KEYS = [
  'http.route',
  'http.response.status_code',
  'server.address',
  'db.query.text',
  'db.operation.name',
  'db.collection.name',
  'messaging.destination.name',
  'messaging.operation.name',
  'messaging.kafka.offset',
  'error.type',
  'rpc.method',
];
const BAR = 30;
const SPAN =
  /^ {2}((?: {2})*)(\S.*?) {2,}((?:server|client|producer|consumer|internal) *|unspecified) (.{14}) (.{9}) ([█·]{30})(.*)$/u;
const ITEM = new RegExp(` (?=(?:${KEYS.map((k) => k.replaceAll('.', '\\.')).join('|')})=|ERROR\\b|↪ link: )`);

const displayName = (name) => name.replace(/\btest\.([\w.]+?)_\d+_\d+_[0-9a-f]+\b/g, '$1');

const spans = lines.slice(1).map((line, i) => {
  const m = SPAN.exec(line);
  if (!m) throw new Error(`${input}: line ${i + 2} is not a span line: ${line}`);
  const [, indent, name, kindField, service, duration, bar, rest] = m;
  const kind = kindField.trimEnd();
  const items = rest ? rest.replace(/^ /, '').split(ITEM) : [];
  const shownName = displayName(name);
  const words = new Set(shownName.split(' '));
  const parts = items.map(displayName).flatMap((item) => {
    if (item.startsWith('↪ link: ')) return [{ text: item, role: 'link' }];
    if (item.startsWith('ERROR')) return [{ text: item, role: 'error' }];
    const [key, ...value] = item.split('=');
    if (!KEYS.includes(key)) throw new Error(`${input}: line ${i + 2}: unknown item ${item}`);
    return words.has(value.join('=')) ? [] : [{ text: item, role: 'attribute' }];
  });
  return {
    depth: indent.length / 2,
    name: shownName,
    kind,
    service: service.trimEnd(),
    duration: duration.trim(),
    bar,
    parts,
    dropped: items.length - parts.length,
  };
});
if (spans.length === 0) throw new Error(`${input}: no spans`);
const count = Number(/ · (\d+) spans? · /.exec(header)[1]);
if (count !== spans.length) throw new Error(`${input}: the header says ${count} spans, the block has ${spans.length}`);

// Layout: a terminal window, one column every CW px.
const COLUMNS = 150;
const CW = 7.8;
const FONT = (CW / 0.602).toFixed(2); // DejaVu Sans Mono's advance is 0.602 em
const LH = 22;
const PAD = 14;
const TITLE_H = 30;
const W = PAD * 2 + COLUMNS * CW;
const H = TITLE_H + PAD + lines.length * LH + PAD - 6;
const nameWidth = Math.min(48, Math.max(...spans.map((s) => s.depth * 2 + [...s.name].length)));
const col = { kind: 2 + nameWidth + 2, service: 2 + nameWidth + 11, duration: 2 + nameWidth + 26, bar: 2 + nameWidth + 36 };
const restCol = col.bar + BAR;

const C = {
  text: '#cad3f5',
  dim: '#8087a2',
  green: '#a6da95',
  blue: '#8aadf4',
  magenta: '#c6a0f6',
  cyan: '#8bd5ca',
  yellow: '#eed49f',
  red: '#ed8796',
};
const kindColour = { server: C.green, client: C.blue, producer: C.magenta, consumer: C.magenta };
const roleColour = { attribute: C.dim, link: C.yellow, error: C.red };
const MONO = 'DejaVu Sans Mono, Menlo, Consolas, monospace';
const SANS = 'Source Sans Pro, Helvetica, Arial, sans-serif';
const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const x = (column) => PAD + column * CW;
const baseline = (row) => TITLE_H + PAD + row * LH + 14;
const text = (column, row, colour, s, extra = '') =>
  `<text x="${x(column)}" y="${baseline(row)}" fill="${colour}"${extra} xml:space="preserve">${esc(s)}</text>`;

const out = [];
const traceName = header.split(' · ')[1];
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="${MONO}" font-size="${FONT}" role="img" aria-label="make tail in a terminal: the waterfall of one ${esc(traceName)} trace, ${spans.length} spans">`,
  `<title>${esc(header)} (otel-tail, ${esc(input.split('/').pop())})</title>`,
  `<defs><clipPath id="screen"><rect x="0" y="${TITLE_H}" width="${W - PAD / 2}" height="${H - TITLE_H}"/></clipPath></defs>`,
  `<rect x="0.5" y="0.5" width="${W - 1}" height="${H - 1}" rx="8" fill="#181926" stroke="#363a4f"/>`,
  `<path d="M0.5 ${TITLE_H}H${W - 0.5}" stroke="#363a4f"/>`,
  ...[C.red, C.yellow, C.green].map((fill, i) => `<circle cx="${20 + i * 20}" cy="${TITLE_H / 2}" r="6" fill="${fill}" fill-opacity="0.8"/>`),
  `<text x="${W / 2}" y="${TITLE_H / 2 + 5}" fill="${C.dim}" font-family="${SANS}" font-size="15" text-anchor="middle">make tail</text>`,
  `<g clip-path="url(#screen)">`,
  text(0, 0, C.text, header, ' font-weight="bold"'),
);
spans.forEach((span, i) => {
  const row = i + 1;
  out.push(
    text(2 + span.depth * 2, row, C.text, span.name),
    text(col.kind, row, kindColour[span.kind] ?? C.dim, span.kind),
    text(col.service, row, C.text, span.service),
    text(col.duration + 9 - span.duration.length, row, C.text, span.duration),
  );
  // The bar as blocks and dots, cell by cell: it stays on the time line in any font.
  [...span.bar].forEach((cell, k) => {
    const cx = x(col.bar + k);
    out.push(
      cell === '█'
        ? `<rect x="${cx}" y="${baseline(row) - 13}" width="${CW}" height="16" fill="${C.cyan}"/>`
        : `<circle cx="${cx + CW / 2}" cy="${baseline(row) - 5}" r="1.2" fill="${C.cyan}" fill-opacity="0.6"/>`,
    );
  });
  // The rest, cut at the window's edge.
  let column = restCol;
  for (const { text: s, role } of span.parts) {
    const room = COLUMNS - column - 1;
    if (room <= 1) break;
    const shown = [...s].length <= room ? s : `${[...s].slice(0, room - 1).join('')}…`;
    out.push(text(column + 1, row, roleColour[role], shown));
    column += 1 + [...shown].length;
  }
});
out.push('</g>', '</svg>');
writeFileSync(output, `${out.join('\n')}\n`);

const dropped = spans.reduce((n, s) => n + s.dropped, 0);
console.log(`${output}: ${spans.length} spans (${header.split(' · ').slice(1, 3).join(', ')}), ${dropped} attributes the names repeat left out`);
