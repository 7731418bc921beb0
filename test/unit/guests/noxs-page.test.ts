// The guest runtime's noxs logic on the host: guests/runtime/noxs_page.c (device page seqlock copy, entry, control page, MAC, MTU and power checks) built with the host's gcc and run by noxs_page_check.c.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The same file runs from test/ (source) and dist/test/ (compiled): find the repository by its guests/Makefile.
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'guests', 'Makefile'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (no guests/Makefile above this test)');
    dir = up;
  }
}

const root = repoRoot();
const work = mkdtempSync(join(tmpdir(), 'noxs-page-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const exe = join(work, 'noxs_page_check');
execFileSync('gcc', [
  '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread',
  '-I', join(root, 'guests', 'runtime'), '-I', join(root, 'guests', 'runtime', 'include'), '-I', join(root, 'xen-patches', 'include'),
  join(root, 'guests', 'runtime', 'noxs_page.c'), join(root, 'test', 'unit', 'guests', 'noxs_page_check.c'), '-o', exe,
], { stdio: ['ignore', 'inherit', 'inherit'] });
const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 120_000 });
const lines = run.stdout.split('\n');
const result = (name: string): string | undefined => lines.find((l) => l === `ok ${name}` || l.startsWith(`not ok ${name}:`));

const groups: Record<string, string[]> = {
  'the device page is copied whole, and a bad magic, version or count is refused': [
    'read-good', 'read-copies-fields', 'read-empty', 'read-full', 'read-bad-magic', 'read-bad-version', 'read-count-over-capacity', 'read-count-ffff',
  ],
  'seqlock: an odd generation is waited out (bounded), and a copy made while the page changes is never torn': [
    'read-odd-generation-gives-up', 'seqlock-no-torn-copy',
  ],
  'entries: type, back-end domain, grant and port are checked; a type and id twice is refused': [
    'dev-good', 'dev-type-0', 'dev-type-over-max', 'dev-type-vbd', 'dev-backend-reserved', 'dev-backend-last-ordinary',
    'dev-grant-0', 'dev-grant-reserved', 'dev-port-0', 'dev-port-too-big', 'page-distinct', 'page-duplicate',
  ],
  'control pages: magic, version and the type of the page entry': ['ctrl-good', 'ctrl-type-mismatch', 'ctrl-bad-magic', 'ctrl-bad-version'],
  'vif: a unicast, non-zero MAC and an MTU in 68..65535': [
    'mac-unicast', 'mac-locally-administered', 'mac-multicast', 'mac-broadcast', 'mac-zero',
    'mtu-0', 'mtu-67', 'mtu-68', 'mtu-1500', 'mtu-65535', 'mtu-65536',
  ],
  'power: a new sequence number is a request; an unknown kind is refused': [
    'power-none-before-any', 'power-same-seq', 'power-poweroff', 'power-reboot', 'power-suspend', 'power-kind-0', 'power-kind-unknown', 'power-seq-wraps',
  ],
};

for (const [title, names] of Object.entries(groups)) {
  t.test(title, async (t) => {
    for (const name of names) t.equal(result(name), `ok ${name}`, name);
  });
}

t.test('the checker ran every check and none failed', async (t) => {
  const total = Object.values(groups).flat().length;
  t.equal(run.status, 0, `exit status (${run.stderr})`);
  t.ok(lines.includes(`done ${total} checks, 0 failed`), `"done ${total} checks, 0 failed" in ${JSON.stringify(lines.slice(-3))}`);
});
