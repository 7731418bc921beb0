// Unit: the fast start of the chaos CLI runs the bundle only while it is fresh, and the bundle behaves as the ES modules do.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../toolstack/cli');
const START = path.join(CLI_DIR, 'start.cjs');

function node(file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** A copy of the loader in a tree of its own, with a bundle and a main.js that say which one ran. */
function sandbox(t: Test): { dir: string; start: string; touch(file: string, at: number): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-start-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'dist', 'toolstack', 'cli');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(START, path.join(dir, 'start.cjs'));
  fs.writeFileSync(path.join(dir, 'chaos.bundle.cjs'), '#!/usr/bin/env node\nconsole.log("bundle", typeof module.exports, process.argv.slice(2).join(","));\n');
  fs.writeFileSync(path.join(dir, 'main.js'), 'console.log("modules", process.argv.slice(2).join(","));\n');
  const touch = (file: string, at: number) => fs.utimesSync(path.join(root, file), at, at);
  return { dir, start: path.join(dir, 'start.cjs'), touch };
}

t.test('a bundle newer than the last TypeScript build is what runs, with the arguments', async (t) => {
  const s = sandbox(t);
  fs.writeFileSync(path.join(s.dir, '..', '..', '.tsbuildinfo'), '{}');
  s.touch('dist/.tsbuildinfo', 1_000_000);
  s.touch('dist/toolstack/cli/chaos.bundle.cjs', 2_000_000);
  const r = node(s.start, ['list', '-l']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^bundle object list,-l$/m, 'the bundle ran (its shebang line skipped)');
});

t.test('the bundle may import() a module at run time', async (t) => {
  const s = sandbox(t);
  fs.writeFileSync(path.join(s.dir, 'chaos.bundle.cjs'), 'import("node:os").then((os) => console.log("imported", typeof os.cpus));\n');
  const r = node(s.start, []);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^imported function$/m);
});

t.test('a bundle older than the last TypeScript build is stale: the ES modules run', async (t) => {
  const s = sandbox(t);
  fs.writeFileSync(path.join(s.dir, '..', '..', '.tsbuildinfo'), '{}');
  s.touch('dist/toolstack/cli/chaos.bundle.cjs', 1_000_000);
  s.touch('dist/.tsbuildinfo', 2_000_000);
  const r = node(s.start, ['list']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^modules list$/m);
});

t.test('no bundle, or LIGHTVM_NO_BUNDLE=1: the ES modules run', async (t) => {
  const s = sandbox(t);
  t.match(node(s.start, ['x'], { LIGHTVM_NO_BUNDLE: '1' }).stdout, /^modules x$/m);
  fs.rmSync(path.join(s.dir, 'chaos.bundle.cjs'));
  t.match(node(s.start, ['y']).stdout, /^modules y$/m);
});

t.test('the real bundle: built, fresh, with its code cache, and it answers as the modules do', async (t) => {
  const bundle = path.join(CLI_DIR, 'chaos.bundle.cjs');
  t.ok(fs.existsSync(bundle), 'npm run build made the bundle');
  t.ok(fs.existsSync(`${bundle}.v8cache`), 'and its V8 code cache');
  const info = path.join(CLI_DIR, '..', '..', '.tsbuildinfo');
  t.ok(!fs.existsSync(info) || fs.statSync(bundle).mtimeMs >= fs.statSync(info).mtimeMs,
    'the bundle is newer than the last TypeScript build, so it is what runs (`npm run build` remakes it)');
  for (const args of [['--help'], ['create', '--help'], ['lst'], ['create', '--no-such-option', 'x.cfg']]) {
    const fast = node(START, args);
    const slow = node(START, args, { LIGHTVM_NO_BUNDLE: '1' });
    t.equal(fast.status, slow.status, `chaos ${args.join(' ')}: same exit status`);
    t.equal(fast.stdout, slow.stdout, `chaos ${args.join(' ')}: same output`);
    t.equal(fast.stderr, slow.stderr, `chaos ${args.join(' ')}: same errors`);
  }
});
