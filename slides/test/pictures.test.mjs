// The pictures drawn from captured telemetry are what their scripts draw from the data in
// data/: a picture edited by hand, or data captured again without drawing the picture again,
// fails here. No browser; runs with the deck's tests (`make test-slides`, `npm test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SITE = fileURLToPath(new URL('..', import.meta.url));

/** Each generated picture: the script that draws it, the data it is drawn from. */
const PICTURES = [
  { image: 'static/images/trace-post-users.svg', script: 'scripts/waterfall.mjs', data: 'data/trace-post-users.json' },
  { image: 'static/images/metrics-http-server-duration.svg', script: 'scripts/histogram.mjs', data: 'data/metrics-http-server-duration.json' },
  { image: 'static/images/logs-user-service.svg', script: 'scripts/logrecord.mjs', data: 'data/logs-user-service.json' },
  { image: 'static/images/tail-step3-sign-up.svg', script: 'scripts/tail-waterfall.mjs', data: 'data/tail-step3-sign-up.txt' },
];

test('every picture is what its script draws from its captured data', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slides-pictures-'));
  try {
    for (const { image, script, data } of PICTURES) {
      const drawn = join(dir, image.replaceAll('/', '_'));
      execFileSync(process.execPath, [script, data, drawn], { cwd: SITE, stdio: ['ignore', 'ignore', 'pipe'] });
      const [want, got] = [await readFile(join(SITE, image), 'utf8'), await readFile(drawn, 'utf8')];
      assert.ok(
        want === got,
        `${image} is not what ${script} draws from ${data}: run \`node ${script} ${data} ${image}\` in slides/`,
      );
    }
    t.diagnostic(`${PICTURES.length} pictures match their data`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
