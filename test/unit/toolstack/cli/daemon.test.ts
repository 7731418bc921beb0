// Unit: how chaos picks chaosd or the in-process toolstack: --no-daemon, no socket, a stale socket, a live one, and the daemon's errors as ChaosErrors.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import t from 'tap';
import { daemon } from '../../../../toolstack/cli/daemon.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cli-daemon-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('no socket, --no-daemon, or a socket nobody answers on: the in-process toolstack', async (t) => {
  t.equal(await daemon({ daemon: true, 'chaosd-socket': path.join(dir, 'none.sock') }), undefined);
  // A daemon killed with -9 leaves its socket file behind, and connecting to it is refused.
  const stale = path.join(dir, 'stale.sock');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.ok(fs.statSync(stale).isSocket(), 'the killed daemon left its socket');
  t.equal(await daemon({ daemon: true, 'chaosd-socket': stale }), undefined, 'a socket nobody answers on: in-process');
  fs.writeFileSync(path.join(dir, 'plain'), '');
  t.equal(await daemon({ daemon: true, 'chaosd-socket': path.join(dir, 'plain') }), undefined, 'a plain file is not a daemon');
});

t.test('a live daemon is used, unless --no-daemon; its errors come back with their codes', async (t) => {
  const sock = path.join(dir, 'live.sock');
  const srv = http.createServer((req, res) => {
    if (req.url === '/v1/health') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"state":"running"}'); return; }
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'NAME_IN_USE', message: 'a domain named "x" already exists', key: 'name' } }));
  });
  await new Promise<void>((r) => srv.listen(sock, r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  t.equal(await daemon({ daemon: false, 'chaosd-socket': sock }), undefined, '--no-daemon');
  const c = await daemon({ daemon: true, 'chaosd-socket': sock });
  t.ok(c, 'the daemon is used');
  await t.rejects(c!.request('POST', '/v1/domains', {}), { name: 'ChaosError', code: 'NAME_IN_USE', key: 'name', message: /already exists/ });
});
