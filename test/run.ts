// Runs every test: unit tests, the lab tests against one shared lab boot, then the stock-Xen tests on a second lab; ends with "N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Lab } from '../lab/lab.js';
import { LabError } from '../lab/errors.js';
import { PROJECT_ROOT, type LabConfig } from '../lab/config.js';

interface Counts { pass: number; fail: number; skip: number }

const LAB_TESTS = path.join(PROJECT_ROOT, 'dist', 'test', 'lab');
/** Lab tests that need Debian's own hypervisor: run by the stock phase only, on a lab of their own. */
const STOCK_TESTS = path.join(LAB_TESTS, 'stock');
/** The stock lab runs noop guests only: half the main lab's machine boots sooner and weighs less beside a reused lab. */
const STOCK_MEMORY_MIB = 2048;

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
  const explicit = process.env.LIGHTVM_LAB_PORT_BASE !== undefined && process.env.LIGHTVM_LAB_PORT_BASE !== '';
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

/**
 * Where the stock lab runs: in the main lab's state directory and ports once that lab is down (its
 * image layers are reused), or beside a lab still running there (reused, or kept with
 * LIGHTVM_KEEP_LAB=1) in a state directory and ports of its own; a running stock lab is reused.
 */
function stockLabConfig(main: Lab): Partial<LabConfig> {
  const running = main.state();
  const stock = { xenImage: 'stock', memoryMiB: STOCK_MEMORY_MIB };
  if (!running) return { ...stock, stateDir: main.config.stateDir, portBase: main.config.portBase };
  if (running.config.xenImage === 'stock') return { stateDir: main.config.stateDir, portBase: running.ports.agent };
  return { ...stock, stateDir: `${main.config.stateDir}-stock`, portBase: running.ports.agent + 5 };
}

/** Boots Debian's hypervisor (or reuses a stock lab already up), runs the stock tests on it, and stops it if it was booted here. */
async function stockPhase(main: Lab | undefined): Promise<Counts> {
  const counts: Counts = { pass: 0, fail: 0, skip: 0 };
  const t0 = performance.now();
  let lab: Lab | undefined;
  let started = false;
  console.log("# stock-Xen tests: a second lab on Debian's hypervisor (no noxs patch)");
  try {
    const files = testFiles(STOCK_TESTS);
    // tap given no file would look for tests on its own: an empty stock phase is a failure instead.
    if (files.length === 0) throw new Error(`no stock test is built in ${STOCK_TESTS}`);
    lab = new Lab(stockLabConfig(main ?? new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR })));
    const up = await bootSharedLab(lab, (l) => { lab = l; });
    started = !up.reused;
    if (up.reused) {
      if (up.state.config.xenImage !== 'stock') {
        throw new LabError('ERUNNING', `the lab running in ${lab.config.stateDir} (pid ${up.state.pid}) is not on the stock hypervisor: stop it or pick another state directory`);
      }
      console.log(`# reusing the stock lab already running (pid ${up.state.pid})`);
    }
    counts.pass++;
    console.log("ok - the lab boots Debian's stock Xen with a dom0 that answers");
    const c = await tap(files, ['--jobs=1', '--timeout=600'], { ...process.env, LIGHTVM_LAB_STATE_DIR: lab.config.stateDir });
    counts.pass += c.pass; counts.fail += c.fail; counts.skip += c.skip;
  } catch (err) {
    counts.fail++;
    console.log("not ok - the lab boots Debian's stock Xen with a dom0 that answers");
    console.log(`# ${(err as Error).message}`);
    if (err instanceof LabError && err.details) console.log(err.details.replace(/^/gm, '# '));
  } finally {
    if (started && lab && process.env.LIGHTVM_KEEP_LAB !== '1') await lab.down();
  }
  console.log(`# stock phase (boot, tests, down) took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return counts;
}

const TIERS = ['unit', 'lab', 'stock'];

async function main(): Promise<number> {
  const total: Counts = { pass: 0, fail: 0, skip: 0 };
  const add = (c: Counts) => { total.pass += c.pass; total.fail += c.fail; total.skip += c.skip; };
  // "unit", "lab" (the main lab tests and the stock phase) or "stock" (the stock phase alone); none: all.
  const only = process.argv[2];
  if (only !== undefined && !TIERS.includes(only)) {
    console.error(`run: unknown tier ${JSON.stringify(only)} (one of ${TIERS.join(', ')}, or none for every test)`);
    return 2;
  }
  let lab: Lab | undefined;

  if (only === undefined || only === 'unit') {
    console.log('# unit tests');
    add(await tap(testFiles(path.join(PROJECT_ROOT, 'dist', 'test', 'unit')), [], process.env));
  }

  if (only === undefined || only === 'lab') {
    lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR });
    let started = false;
    console.log('# lab tests (real Xen in QEMU): one lab boot shared by every file');
    try {
      const up = await bootSharedLab(lab, (l) => { lab = l; });
      started = !up.reused;
      if (up.reused) console.log(`# reusing the lab already running (pid ${up.state.pid})`);
      total.pass++; // the lab booted: itself a test
      console.log('ok - the lab boots real Xen with a dom0 that answers');
      add(await tap(testFiles(LAB_TESTS).filter((f) => !f.startsWith(STOCK_TESTS + path.sep)), ['--jobs=1', '--timeout=900'], {
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

  if (only !== 'unit') add(await stockPhase(lab));

  console.log(`${total.pass} passed, ${total.fail} failed${total.skip ? `, ${total.skip} skipped` : ''}`);
  return total.fail === 0 ? 0 : 1;
}

main().then((c) => { process.exitCode = c; }, (err) => { console.error(err); console.log('0 passed, 1 failed'); process.exitCode = 1; });
