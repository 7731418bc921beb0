// Unit tests of the host package check; nothing is ever installed (apt-get is replaced by a stub that refuses).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { LabError } from '../../../lab/errors.js';
import { LAB_PACKAGES, ensurePackages, missingPackages } from '../../../lab/packages.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-packages-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
fs.chmodSync(tmp, 0o755);

// Should a test ever reach apt-get, it meets this stub: it records the call and fails, so nothing is installed.
const stubDir = path.join(tmp, 'bin');
const aptLog = path.join(tmp, 'apt-get.log');
fs.mkdirSync(stubDir, { mode: 0o755 });
fs.writeFileSync(path.join(stubDir, 'apt-get'), `#!/bin/sh\necho "$@" >> '${aptLog}'\necho 'apt-get stub: refusing' >&2\nexit 100\n`, { mode: 0o755 });
const oldPath = process.env.PATH;
process.env.PATH = `${stubDir}:${oldPath ?? '/usr/bin:/bin'}`;
t.teardown(() => { process.env.PATH = oldPath; });

const MADE_UP = 'lightvm-no-such-package-9f3c';

t.test('missingPackages: a made-up package is missing, bash is present', async (tt) => {
  const missing = missingPackages([{ name: MADE_UP, why: 'test' }, { name: 'bash', why: 'test' }]);
  tt.same(missing.map((p) => p.name), [MADE_UP]);
  tt.same(missingPackages([{ name: 'bash', why: 'test' }]), [], 'bash alone: nothing missing');
  tt.same(missingPackages([{ name: MADE_UP, why: 'x' }]), [{ name: MADE_UP, why: 'x' }], 'the entry itself is returned');
});

t.test('the package list names each package once, with a reason', async (tt) => {
  const names = LAB_PACKAGES.map((p) => p.name);
  tt.equal(new Set(names).size, names.length, 'no duplicates');
  for (const p of LAB_PACKAGES) tt.ok(/^[a-z0-9][a-z0-9.+-]+$/.test(p.name) && p.why.length > 0, p.name);
});

t.test('ensurePackages with nothing missing returns [] and logs nothing', async (tt) => {
  const lines: string[] = [];
  tt.same(ensurePackages({ log: (l) => lines.push(l) }, [{ name: 'bash', why: 'test' }]), []);
  tt.same(lines, []);
  tt.notOk(fs.existsSync(aptLog), 'apt-get was not called');
});

// A script for a child process that runs as an unprivileged user: it prints what ensurePackages threw.
const childScript = path.join(tmp, 'ensure.mjs');
const packagesJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../lab/packages.js');
fs.writeFileSync(childScript, `
import { ensurePackages } from ${JSON.stringify(packagesJs)};
try {
  const r = ensurePackages({ log: () => {} }, [{ name: ${JSON.stringify(MADE_UP)}, why: 'test' }, { name: 'bash', why: 'test' }]);
  process.stdout.write(JSON.stringify({ returned: r }));
} catch (err) {
  process.stdout.write(JSON.stringify({ name: err.name, code: err.code, message: err.message, details: err.details }));
}
`);

t.test('ensurePackages refuses to install when not root, and says how', async (tt) => {
  const uid = process.getuid?.();
  let out: string;
  if (uid === 0) {
    // Root here: drop to nobody in a child, the real condition rather than a patched getuid.
    const r = spawnSync(process.execPath, [childScript], {
      uid: 65534, gid: 65534, encoding: 'utf8', cwd: tmp, env: { PATH: process.env.PATH, HOME: tmp }, timeout: 8000,
    });
    if (r.error || r.status !== 0) {
      tt.plan(0, `skip: could not run node as uid 65534 to simulate a non-root user: ${r.error?.message ?? r.stderr}`);
      return;
    }
    out = r.stdout;
  } else {
    const r = spawnSync(process.execPath, [childScript], { encoding: 'utf8', timeout: 8000 });
    out = r.stdout;
  }
  const got = JSON.parse(out) as { name?: string; code?: string; message?: string; details?: string };
  tt.equal(got.name, 'LabError');
  tt.equal(got.code, 'ENOTROOT');
  tt.match(got.message, /1 Debian package\(s\) that are not installed, and installing them needs root/);
  tt.match(got.details, new RegExp(`apt-get install --no-install-recommends ${MADE_UP}$`, 'm'), 'the apt-get command');
  tt.notMatch(got.details, /\bbash\b/, 'only the missing package is named');
  tt.notOk(fs.existsSync(aptLog), 'apt-get was not called');
});

t.test('LabError keeps code, details and cause', async (tt) => {
  const cause = new Error('inner');
  const e = new LabError('EINSTALL', 'outer', { cause, details: 'tail' });
  tt.equal(e.name, 'LabError');
  tt.equal(e.code, 'EINSTALL');
  tt.equal(e.details, 'tail');
  tt.equal(e.cause, cause);
  tt.ok(e instanceof Error);
  tt.notOk('cause' in new LabError('EINVAL', 'no cause'), 'no cause property without a cause');
});
