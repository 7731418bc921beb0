// Unit: the fast start of the chaos CLI runs the bundle only while it is fresh, and the bundle behaves as the ES modules do.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
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

t.test('the real bundle: this node accepts its code cache; LIGHTVM_CLI_TIMES=1 says where start-up went', async (t) => {
  const times = node(START, ['--help'], { LIGHTVM_CLI_TIMES: '1' });
  t.equal(times.status, 0, times.stderr);
  const marks = [...times.stderr.matchAll(/^chaos-time (\d+\.\d) (.+)$/gm)].map((m) => ({ ms: Number(m[1]), what: m[2] }));
  t.same(marks.map((m) => m.what), ['start.cjs running', 'bundle read', 'bundle compiled (code cache used)', 'modules evaluated', 'exit'], 'the marks of --help, in order; the cache was used');
  t.ok(marks.every((m, i) => i === 0 || m.ms >= marks[i - 1].ms), 'times only grow');
  t.equal(node(START, ['--help']).stderr, '', 'no marks without LIGHTVM_CLI_TIMES');
  const none = node(START, ['--help'], { LIGHTVM_CLI_TIMES: '1', LIGHTVM_NO_CODE_CACHE: '1' });
  t.equal(none.status, 0, none.stderr);
  t.match(none.stderr, /^chaos-time \S+ bundle compiled \(code cache missing\)$/m, 'LIGHTVM_NO_CODE_CACHE=1 compiles without it');
  t.equal(none.stdout, times.stdout, 'and prints the same help');
});

t.test('a code cache V8 rejects (not made for this bundle): the bundle still runs', async (t) => {
  const s = sandbox(t);
  fs.writeFileSync(path.join(s.dir, 'chaos.bundle.cjs.v8cache'), Buffer.alloc(4096, 7));
  const r = node(s.start, ['list'], { LIGHTVM_CLI_TIMES: '1' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^bundle object list$/m);
  t.match(r.stderr, /bundle compiled \(code cache rejected\)/);
});

t.test('the real bundle, with its code cache, reaches chaosd over its socket (HTTP is loaded at run time)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-sock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'chaosd.sock');
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/v1/health' ? { state: 'running' } : [{ domid: 3, name: 'web', memMiB: 4, vcpus: 1, state: 'running', cpuTimeSec: 1.5 }]));
  });
  await new Promise<void>((r) => srv.listen(sock, r));
  t.teardown(() => srv.close());
  const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, [START, '--chaosd-socket', sock, 'list', '--json'], { env: { ...process.env, LIGHTVM_CLI_TIMES: '1' } });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
  t.equal(r.code, 0, r.err);
  t.match(r.err, /bundle compiled \(code cache used\)/, 'the bundle ran from its code cache');
  t.same(JSON.parse(r.out).map((d: { name: string }) => d.name), ['web'], 'the list came from chaosd');
  t.same(seen, ['GET /v1/health', 'GET /v1/domains']);
});
