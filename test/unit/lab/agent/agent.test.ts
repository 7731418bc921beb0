// End-to-end tests of the command agent and its client over real sockets on 127.0.0.1.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { pingAgent, runInLab, type AgentEndpoint } from '../../../../lab/agent/client.js';
import {
  encodeJsonFrame,
  FrameDecoder,
  FrameType,
  LabAgentError,
  parseErrorPayload,
  type Frame,
} from '../../../../lab/agent/protocol.js';
import { startAgent, stopAgent } from '../../../../lab/agent/server.js';

const TOKEN = 'test-token-0123456789';
const logs: string[] = [];

const server = await startAgent({ host: '127.0.0.1', port: 0, token: TOKEN, log: (line) => logs.push(line) });
t.teardown(() => stopAgent(server));
const port = (server.address() as net.AddressInfo).port;
const endpoint: AgentEndpoint = { host: '127.0.0.1', port, token: TOKEN };

/** Whether pid names a live process; a zombie waiting for its parent counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(25);
  }
  return !alive(pid);
}

/** Writes bytes on a fresh connection and collects every frame until the agent closes it. */
function rawExchange(agentPort: number, bytes: Buffer, limitMs = 5_000): Promise<{ frames: Frame[]; closed: boolean }> {
  return new Promise((resolve) => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    const socket = net.connect({ host: '127.0.0.1', port: agentPort });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ frames, closed: false });
    }, limitMs);
    socket.on('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on('data', (chunk) => frames.push(...decoder.push(chunk)));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ frames, closed: true });
    });
  });
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: free } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return free;
}

function hasScript(): string | null {
  if (spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).status === 0) return 'script';
  const list = spawnSync('busybox', ['--list'], { encoding: 'utf8' });
  if (list.status === 0 && list.stdout.split('\n').includes('script')) return 'busybox script';
  return null;
}

t.test('echo hi: stdout and exit code 0', async (tt) => {
  const result = await runInLab(endpoint, { argv: ['echo', 'hi'] });
  tt.equal(result.stdout.toString(), 'hi\n');
  tt.equal(result.stderr.length, 0);
  tt.equal(result.code, 0);
  tt.equal(result.signal, null);
  tt.equal(result.timedOut, false);
  tt.ok(result.durationMs >= 0);
  tt.equal(result.stdoutTruncated, false);
  tt.ok(logs.some((line) => /echo hi -> code=0 [\d.]+ms$/.test(line)), 'one log line for the command');
});

t.test('a non-zero exit code is propagated', async (tt) => {
  const result = await runInLab(endpoint, { argv: ['sh', '-c', 'exit 3'] });
  tt.equal(result.code, 3);
});

t.test('stderr is kept apart from stdout, and callbacks see both', async (tt) => {
  const seen: string[] = [];
  const result = await runInLab(
    endpoint,
    { cmd: 'echo out; echo err >&2' },
    { onStdout: (b) => seen.push(`out:${b}`), onStderr: (b) => seen.push(`err:${b}`) },
  );
  tt.equal(result.stdout.toString(), 'out\n');
  tt.equal(result.stderr.toString(), 'err\n');
  tt.same(seen.sort(), ['err:err\n', 'out:out\n']);
});

t.test('cmd runs under sh -c, with cwd and env', async (tt) => {
  const result = await runInLab(endpoint, { cmd: 'echo $((1+2)) | tr 3 X; pwd; echo "$FOO"', cwd: '/', env: { FOO: 'bar baz' } });
  tt.equal(result.stdout.toString(), 'X\n/\nbar baz\n');
  tt.equal(result.code, 0);
});

t.test('stdin is piped through to cat, large input included', async (tt) => {
  const small = await runInLab(endpoint, { argv: ['cat'] }, { stdin: Readable.from([Buffer.from('abc'), Buffer.from('def\n')]) });
  tt.equal(small.stdout.toString(), 'abcdef\n');

  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff;
  const chunks = Array.from({ length: 64 }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
  const echoed = await runInLab(endpoint, { argv: ['cat'] }, { stdin: Readable.from(chunks) });
  tt.equal(echoed.stdout.length, big.length);
  tt.ok(echoed.stdout.equals(big), '4 MiB come back byte for byte');
});

t.test('without a stdin stream the command reads /dev/null', async (tt) => {
  const result = await runInLab(endpoint, { argv: ['cat'], timeoutMs: 5_000 });
  tt.equal(result.stdout.length, 0);
  tt.equal(result.timedOut, false);
});

t.test('large output arrives whole', async (tt) => {
  const result = await runInLab(endpoint, { cmd: 'head -c 20000000 /dev/zero' });
  tt.equal(result.stdout.length, 20_000_000);
  tt.equal(result.code, 0);
});

t.test('a timeout kills the command and says so', async (tt) => {
  const started = Date.now();
  const result = await runInLab(endpoint, { argv: ['sleep', '30'], timeoutMs: 300 });
  tt.equal(result.timedOut, true);
  tt.equal(result.signal, 'SIGKILL');
  tt.equal(result.code, null);
  tt.ok(Date.now() - started < 3_000, `finished in ${Date.now() - started} ms`);
});

t.test('a timeout kills the whole process group', async (tt) => {
  let pids: number[] = [];
  const result = await runInLab(
    endpoint,
    { cmd: 'sleep 30 & echo $$ $!; wait', timeoutMs: 400 },
    { onStdout: (b) => (pids = b.toString().trim().split(/\s+/).map(Number)) },
  );
  tt.equal(result.timedOut, true);
  tt.equal(pids.length, 2, 'shell and background sleep reported their pids');
  for (const pid of pids) tt.ok(await goneWithin(pid, 3_000), `pid ${pid} is gone`);
});

t.test('a client that goes away gets its command killed', async (tt) => {
  let pids: number[] = [];
  const error = await runInLab(
    endpoint,
    { cmd: 'sleep 30 & echo $$ $!; wait' },
    { onStdout: (b) => (pids = b.toString().trim().split(/\s+/).map(Number)), timeoutMs: 500 },
  ).catch((err: unknown) => err);
  tt.ok(error instanceof LabAgentError);
  tt.match(error, { code: 'ETIMEDOUT', message: /127\.0\.0\.1:\d+ did not finish the command within 500 ms/ });
  tt.equal(pids.length, 2, 'shell and background sleep reported their pids');
  for (const pid of pids) tt.ok(await goneWithin(pid, 3_000), `pid ${pid} is gone`);
});

t.test('aborting the signal fails the call with EABORTED and gets the command killed', async (tt) => {
  let pids: number[] = [];
  const stop = new AbortController();
  const error = await runInLab(
    endpoint,
    { cmd: 'sleep 30 & echo $$ $!; wait' },
    { onStdout: (b) => { pids = b.toString().trim().split(/\s+/).map(Number); stop.abort(); }, signal: stop.signal },
  ).catch((err: unknown) => err);
  tt.match(error, { code: 'EABORTED', message: /interrupted/ });
  tt.equal(pids.length, 2);
  for (const pid of pids) tt.ok(await goneWithin(pid, 3_000), `pid ${pid} is gone`);
  const already = new AbortController();
  already.abort();
  tt.match(await runInLab(endpoint, { cmd: 'true' }, { signal: already.signal }).catch((err: unknown) => err), { code: 'EABORTED' }, 'a signal aborted before the call fails it too');
});

t.test('a wrong token is refused with EAUTH', async (tt) => {
  const error = await runInLab({ ...endpoint, token: 'wrong' }, { argv: ['true'] }).catch((err: unknown) => err);
  tt.ok(error instanceof LabAgentError);
  tt.match(error, { code: 'EAUTH', message: /token.*wrong/ });
  const shorter = await runInLab({ ...endpoint, token: TOKEN.slice(0, 5) }, { argv: ['true'] }).catch((err: unknown) => err);
  tt.match(shorter, { code: 'EAUTH' }, 'a token of another length too');
});

t.test('a first frame other than HELLO is refused with EAUTH', async (tt) => {
  const { frames, closed } = await rawExchange(port, encodeJsonFrame(FrameType.RUN, { argv: ['true'] }));
  tt.ok(closed, 'connection closed');
  tt.equal(frames.length, 1);
  tt.equal(frames[0]?.type, FrameType.ERROR);
  tt.match(parseErrorPayload(frames[0]!.payload), { code: 'EAUTH', message: /first frame must be HELLO, got RUN/ });
});

t.test('no HELLO in time is refused with EAUTH', async (tt) => {
  const quick = await startAgent({ host: '127.0.0.1', port: 0, token: TOKEN, helloTimeoutMs: 200 });
  tt.teardown(() => stopAgent(quick));
  const started = Date.now();
  const { frames, closed } = await rawExchange((quick.address() as net.AddressInfo).port, Buffer.alloc(0));
  tt.ok(closed, 'connection closed');
  tt.ok(Date.now() - started < 2_000);
  tt.match(parseErrorPayload(frames[0]!.payload), { code: 'EAUTH', message: /no HELLO within 200 ms/ });
});

t.test('garbage bytes get an error and a close; the agent keeps serving', async (tt) => {
  const { frames, closed } = await rawExchange(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  tt.ok(closed, 'connection closed');
  tt.equal(frames[0]?.type, FrameType.ERROR);
  tt.match(parseErrorPayload(frames[0]!.payload), { code: 'EPROTO', message: /unknown type 0x47/ });

  const oversize = Buffer.from([FrameType.HELLO, 0xff, 0xff, 0xff, 0xff]);
  const second = await rawExchange(port, oversize);
  tt.ok(second.closed);
  tt.match(parseErrorPayload(second.frames[0]!.payload), { code: 'EPROTO', message: /limit/ });

  const result = await runInLab(endpoint, { argv: ['echo', 'still here'] });
  tt.equal(result.stdout.toString(), 'still here\n');
});

t.test('a bad RUN request is refused with EPROTO', async (tt) => {
  const bytes = Buffer.concat([
    encodeJsonFrame(FrameType.HELLO, { version: 1, token: TOKEN }),
    encodeJsonFrame(FrameType.RUN, { argv: [] }),
  ]);
  const { frames, closed } = await rawExchange(port, bytes);
  tt.ok(closed);
  tt.match(parseErrorPayload(frames[0]!.payload), { code: 'EPROTO', message: /argv must not be empty/ });
  // The client checks the same rules before it connects.
  const local = await runInLab(endpoint, { argv: [] }).catch((err: unknown) => err);
  tt.match(local, { code: 'EPROTO', message: /argv must not be empty/ });
});

t.test('a program that does not exist is ESPAWN', async (tt) => {
  const error = await runInLab(endpoint, { argv: ['/nonexistent/lightvm-no-such-program'] }).catch((err: unknown) => err);
  tt.ok(error instanceof LabAgentError);
  tt.match(error, { code: 'ESPAWN', message: /cannot start \/nonexistent\/lightvm-no-such-program/ });
});

const scriptProgram = hasScript();

t.test(
  'tty:true runs the command on a pseudo-terminal',
  { skip: scriptProgram ? false : 'neither util-linux script nor a busybox script applet is installed on this host' },
  async (tt) => {
    const result = await runInLab(endpoint, { argv: ['tty'], tty: true, timeoutMs: 10_000 });
    tt.match(result.stdout.toString(), /^\/dev\/pts\/\d+\r?\n$/, `tty under ${scriptProgram}`);
    tt.equal(result.code, 0);
    const failing = await runInLab(endpoint, { cmd: 'test -t 0 && test -t 1 && exit 4', tty: true, timeoutMs: 10_000 });
    tt.equal(failing.code, 4, 'the exit code crosses the pty');
    const piped = await runInLab(
      endpoint,
      { argv: ['sh'], tty: true, timeoutMs: 10_000 },
      { stdin: Readable.from([Buffer.from('echo in-$((40+2))\nexit 6\n')]) },
    );
    tt.match(piped.stdout.toString(), /in-42/, 'an interactive sh reads commands from stdin');
    tt.equal(piped.code, 6);
  },
);

t.test('connection refused is ECONNECT naming host:port', async (tt) => {
  const closedPort = await freePort();
  const error = await runInLab({ ...endpoint, port: closedPort }, { argv: ['true'] }).catch((err: unknown) => err);
  tt.ok(error instanceof LabAgentError);
  tt.match(error, { code: 'ECONNECT', message: new RegExp(`127\\.0\\.0\\.1:${closedPort}.*refused`) });
});

t.test('a connection that is accepted then dropped is EPROTO', async (tt) => {
  // What QEMU's port forward does while dom0 has not started the agent yet.
  const dropper = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  tt.teardown(() => new Promise<void>((resolve) => dropper.close(() => resolve())));
  const dropPort = (dropper.address() as net.AddressInfo).port;
  const error = await runInLab({ ...endpoint, port: dropPort }, { argv: ['true'] }).catch((err: unknown) => err);
  tt.match(error, { code: 'EPROTO', message: /closed the connection before the command finished/ });
  tt.equal(await pingAgent({ ...endpoint, port: dropPort }, 1_000), false);
});

t.test('pingAgent answers true only for a working agent', async (tt) => {
  tt.equal(await pingAgent(endpoint, 5_000), true);
  tt.equal(await pingAgent({ ...endpoint, token: 'nope' }, 5_000), false);
  tt.equal(await pingAgent({ ...endpoint, port: await freePort() }, 1_000), false);
});
