// Runs every test: unit tests, then the lab tests against one shared lab boot; ends with "N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Lab } from '../lab/lab.js';
import { LabError } from '../lab/errors.js';
import { PROJECT_ROOT } from '../lab/config.js';

interface Counts { pass: number; fail: number; skip: number }

function testFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

/** Runs tap over `files`, passing its TAP output through, and reads its closing summary. */
function tap(files: string[], extra: string[], env: NodeJS.ProcessEnv): Promise<Counts> {
  return new Promise((resolve) => {
    const bin = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tap');
    const child = spawn(bin, ['--reporter=tap', '--disable-coverage', ...extra, ...files], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (b: Buffer) => { process.stdout.write(b); tail = (tail + b.toString()).slice(-4096); });
    child.on('close', (code) => {
      const m = [...tail.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].at(-1);
      if (!m) {
        // tap ended without its summary: count the whole run as one failure rather than none.
        resolve({ pass: 0, fail: 1, skip: 0 });
        return;
      }
      const counts = { pass: Number(m[2] ?? 0), fail: Number(m[3] ?? 0), skip: Number(m[4] ?? 0) };
      if (code !== 0 && counts.fail === 0) counts.fail = 1;
      resolve(counts);
    });
  });
}

/** Boots (or reuses) the lab; if something else holds the default ports, tries a few other port bases. */
async function bootSharedLab(first: Lab, use: (l: Lab) => void) {
  const explicit = process.env.LIGHTVM_LAB_PORT_BASE !== undefined;
  let lab = first;
  for (let attempt = 0; ; attempt++) {
    try {
      return await lab.up({ reuse: true, log: (l) => console.log(`# ${l}`) });
    } catch (err) {
      if (!(err instanceof LabError) || err.code !== 'EPORTINUSE' || explicit || attempt >= 4) throw err;
      console.log(`# ${err.message}: trying other ports`);
      lab = new Lab({ ...lab.config, portBase: lab.config.portBase + 10 });
      use(lab);
    }
  }
}

async function main(): Promise<number> {
  const total: Counts = { pass: 0, fail: 0, skip: 0 };
  const add = (c: Counts) => { total.pass += c.pass; total.fail += c.fail; total.skip += c.skip; };
  const only = process.argv[2]; // "unit" or "lab" to run one tier

  if (only !== 'lab') {
    console.log('# unit tests');
    add(await tap(testFiles(path.join(PROJECT_ROOT, 'dist', 'test', 'unit')), [], process.env));
  }

  if (only !== 'unit') {
    let lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR });
    let started = false;
    console.log('# lab tests (real Xen in QEMU): one lab boot shared by every file');
    try {
      const up = await bootSharedLab(lab, (l) => { lab = l; });
      started = !up.reused;
      if (up.reused) console.log(`# reusing the lab already running (pid ${up.state.pid})`);
      total.pass++; // the lab booted: itself a test
      console.log('ok - the lab boots real Xen with a dom0 that answers');
      add(await tap(testFiles(path.join(PROJECT_ROOT, 'dist', 'test', 'lab')), ['--jobs=1', '--timeout=900'], {
        ...process.env, LIGHTVM_LAB_STATE_DIR: lab.config.stateDir,
      }));
    } catch (err) {
      total.fail++;
      console.log(`not ok - the lab boots real Xen with a dom0 that answers`);
      console.log(`# ${(err as Error).message}`);
      if (err instanceof LabError && err.details) console.log(err.details.replace(/^/gm, '# '));
    } finally {
      if (started && process.env.LIGHTVM_KEEP_LAB !== '1') await lab.down();
    }
  }

  console.log(`${total.pass} passed, ${total.fail} failed${total.skip ? `, ${total.skip} skipped` : ''}`);
  return total.fail === 0 ? 0 : 1;
}

main().then((c) => { process.exitCode = c; }, (err) => { console.error(err); console.log('0 passed, 1 failed'); process.exitCode = 1; });
