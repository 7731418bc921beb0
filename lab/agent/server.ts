// The dom0 command agent: a long-lived TCP server that runs one command per connection and streams its I/O.
//
// It runs inside the lab's emulated dom0, where starting node costs seconds, so it is started once
// at boot and imports nothing but node builtins and ./protocol.js. It is a daemon: nothing that
// happens on one connection may take the process down, so every callback runs under a guard that
// turns a throw into an ERROR frame for that client alone.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync, realpathSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  encodeFrame,
  encodeJsonFrame,
  FrameDecoder,
  frameTypeName,
  FrameType,
  LabAgentError,
  parseHello,
  parseRunRequest,
  shJoin,
  shQuote,
  type ErrorPayload,
  type ExitStatus,
  type Frame,
  type LabAgentErrorCode,
  type RunRequest,
} from './protocol.js';

export interface AgentOptions {
  /** Address to listen on; the lab uses 0.0.0.0 so QEMU's user-mode forward can reach it. */
  host: string;
  /** TCP port; 0 picks a free one (read it back from server.address()). */
  port: number;
  /** Shared secret every client must present in its HELLO. */
  token: string;
  /** How long a new connection has to authenticate; 10 s unless a test needs it shorter. */
  helloTimeoutMs?: number;
  /** Receives one line per command and per refused connection; silent when absent. */
  log?: (line: string) => void;
}

export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

/**
 * After the child exits, how long to wait for its stdout/stderr to close. A background
 * grandchild can hold the pipes open forever; the command's result must not wait for it.
 */
const OUTPUT_GRACE_MS = 1_000;

/** A socket that will not take our ERROR and FIN within this long is simply dropped. */
const CLOSE_LINGER_MS = 2_000;

interface AgentContext {
  tokenDigest: Buffer;
  helloTimeoutMs: number;
  log: (line: string) => void;
  connections: Set<Connection>;
}

const agents = new WeakMap<net.Server, AgentContext>();

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Hashing both sides first gives timingSafeEqual the equal-length buffers it requires, and
 * means the comparison reveals neither the token's bytes nor its length.
 */
function tokenMatches(expectedDigest: Buffer, given: string): boolean {
  return timingSafeEqual(digest(given), expectedDigest);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function summarise(req: RunRequest): string {
  const line = req.argv ? shJoin(req.argv) : `sh -c ${shQuote(req.cmd ?? '')}`;
  const shown = line.length > 160 ? `${line.slice(0, 157)}...` : line;
  return req.tty ? `[tty] ${shown}` : shown;
}

// ---------------------------------------------------------------------------------------------
// Finding `script`, which gives tty:true its pseudo-terminal without a native pty module.

let scriptLauncher: string[] | null | undefined;

function findOnPath(name: string): string | null {
  const dirs = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin').split(':');
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return null;
}

/**
 * The command that provides `script`: util-linux's or busybox's applet under its own name, or
 * busybox called as a multiplexer when no `script` link was installed. Looked up once, on the
 * first tty request, so plain commands never pay for it.
 */
function findScript(): string[] | null {
  if (scriptLauncher !== undefined) return scriptLauncher;
  const direct = findOnPath('script');
  if (direct) {
    scriptLauncher = [direct];
    return scriptLauncher;
  }
  const busybox = findOnPath('busybox');
  if (busybox) {
    const list = spawnSync(busybox, ['--list'], { encoding: 'utf8', timeout: 5_000 });
    if (list.status === 0 && list.stdout.split('\n').includes('script')) {
      scriptLauncher = [busybox, 'script'];
      return scriptLauncher;
    }
  }
  scriptLauncher = null;
  return scriptLauncher;
}

interface SpawnPlan {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Where the tty wrapper leaves the command's exit status, since `script` does not report it. */
  statusFile: string | null;
}

function planSpawn(req: RunRequest): SpawnPlan {
  const env: NodeJS.ProcessEnv = { ...process.env, ...req.env };
  if (!req.tty) {
    const argv = req.argv ?? ['/bin/sh', '-c', req.cmd ?? ''];
    return { file: argv[0]!, args: argv.slice(1), env, statusFile: null };
  }
  const launcher = findScript();
  if (!launcher) {
    throw new LabAgentError(
      'ESPAWN',
      'tty:true needs a `script` program (util-linux or busybox) in dom0 and none was found on PATH',
    );
  }
  // busybox's script always exits 0 and has no -e, so the exit status is carried out of the
  // pseudo-terminal session through a file written by a small wrapper. Both scripts run the
  // -c string with $SHELL, hence SHELL is pinned to a POSIX shell unless the caller chose one.
  const statusFile = path.join(tmpdir(), `lightvm-agent-${process.pid}-${randomBytes(6).toString('hex')}.status`);
  const inner = req.argv ? shJoin(req.argv) : `/bin/sh -c ${shQuote(req.cmd ?? '')}`;
  const wrapped = `${inner}; echo $? > ${shQuote(statusFile)}`;
  return {
    file: launcher[0]!,
    args: [...launcher.slice(1), '-q', '-c', wrapped, '/dev/null'],
    env: { ...env, SHELL: req.env?.SHELL ?? '/bin/sh' },
    statusFile,
  };
}

function takeStatusFile(file: string): number | null {
  try {
    const text = readFileSync(file, 'utf8').trim();
    const code = Number.parseInt(text, 10);
    return Number.isInteger(code) && code >= 0 ? code : null;
  } catch {
    // No file: the session ended before the wrapper could write it (killed, or script failed).
    return null;
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // Already gone.
    }
  }
}

// ---------------------------------------------------------------------------------------------

type State = 'hello' | 'run' | 'running' | 'closing';

/** One client connection and the one command it runs. */
class Connection {
  private readonly decoder = new FrameDecoder();
  private readonly remote: string;
  private state: State = 'hello';
  private helloTimer: NodeJS.Timeout | null = null;
  private runTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;

  private req: RunRequest | null = null;
  private child: ChildProcess | null = null;
  private spawned = false;
  private statusFile: string | null = null;
  private startedAt = 0;
  private exit: { code: number | null; signal: string | null; at: number } | null = null;
  private timedOut = false;
  private stdinClosed = false;
  private outputPaused = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly agent: AgentContext,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    agent.connections.add(this);
    socket.setNoDelay(true);
    // QEMU's user-mode network can leave a half-dead connection behind; keepalive eventually
    // notices, which in turn kills the command of a client that is gone.
    socket.setKeepAlive(true, 30_000);
    socket.on('data', this.guard((chunk: Buffer) => this.onData(chunk)));
    socket.on('drain', this.guard(() => this.resumeOutput()));
    socket.on('error', () => {
      // 'close' follows and does the cleanup; an unhandled 'error' would crash the agent.
    });
    socket.on('close', this.guard(() => this.onClose()));
    this.helloTimer = setTimeout(
      this.guard(() => this.fail('EAUTH', `no HELLO within ${agent.helloTimeoutMs} ms of connecting`)),
      agent.helloTimeoutMs,
    );
  }

  /** Ends the connection at once and kills its command; used when the agent shuts down. */
  abort(): void {
    this.killGroup();
    this.socket.destroy();
  }

  private isClosing(): boolean {
    return this.state === 'closing';
  }

  private guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.internalError(err);
      }
    };
  }

  private internalError(err: unknown): void {
    try {
      this.agent.log(`${new Date().toISOString()} ${this.remote} internal error: ${(err as Error)?.stack ?? err}`);
      this.killGroup();
      this.fail('EINTERNAL', `the agent failed while serving this connection: ${errorMessage(err)}`);
    } catch {
      // Last resort: never let a fault escape into the event loop.
      this.socket.destroy();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing') return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (err instanceof LabAgentError) {
        this.fail(err.code, err.message);
        return;
      }
      throw err;
    }
    for (const frame of frames) {
      // An earlier frame of this same chunk may have ended the conversation.
      if (this.isClosing()) return;
      try {
        this.onFrame(frame);
      } catch (err) {
        if (!(err instanceof LabAgentError)) throw err;
        this.fail(err.code, err.message);
      }
    }
  }

  private onFrame(frame: Frame): void {
    switch (this.state) {
      case 'hello':
        this.onHello(frame);
        return;
      case 'run':
        if (frame.type === FrameType.RUN) {
          this.onRun(parseRunRequest(frame.payload));
          return;
        }
        throw new LabAgentError('EPROTO', `expected RUN after HELLO, got ${frameTypeName(frame.type)}`);
      case 'running':
        if (frame.type === FrameType.STDIN) {
          this.onStdin(frame.payload);
          return;
        }
        if (frame.type === FrameType.RUN) {
          throw new LabAgentError('EPROTO', 'a connection runs exactly one command; got a second RUN');
        }
        throw new LabAgentError('EPROTO', `unexpected ${frameTypeName(frame.type)} frame while a command runs`);
      case 'closing':
        return;
    }
  }

  private onHello(frame: Frame): void {
    if (frame.type !== FrameType.HELLO) {
      throw new LabAgentError('EAUTH', `the first frame must be HELLO, got ${frameTypeName(frame.type)}`);
    }
    const hello = parseHello(frame.payload);
    if (!tokenMatches(this.agent.tokenDigest, hello.token)) {
      throw new LabAgentError('EAUTH', 'the token in HELLO is wrong');
    }
    this.clearTimer('helloTimer');
    this.state = 'run';
  }

  private onRun(req: RunRequest): void {
    this.req = req;
    this.state = 'running';
    const plan = planSpawn(req);
    this.statusFile = plan.statusFile;
    let child: ChildProcess;
    try {
      child = spawn(plan.file, plan.args, {
        cwd: req.cwd,
        env: plan.env,
        // Its own process group, so a timeout or a vanished client can kill the whole tree
        // (a shell and whatever it started) with one signal to -pid.
        detached: true,
        stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw new LabAgentError('ESPAWN', `cannot start ${summarise(req)}: ${errorMessage(err)}`, { cause: err });
    }
    this.child = child;
    this.startedAt = performance.now();

    child.on('spawn', () => {
      this.spawned = true;
    });
    child.on(
      'error',
      this.guard((err: Error) => {
        if (!this.spawned) {
          const where = req.cwd ? ` in ${req.cwd}` : '';
          this.fail('ESPAWN', `cannot start ${summarise(req)}${where}: ${err.message}`);
          return;
        }
        this.agent.log(`${new Date().toISOString()} ${this.remote} child error: ${err.message}`);
      }),
    );
    child.on('exit', this.guard((code: number | null, signal: NodeJS.Signals | null) => this.onExit(code, signal)));
    child.on('close', this.guard(() => this.finish()));

    child.stdout!.on('data', this.guard((chunk: Buffer) => this.sendOutput(FrameType.STDOUT, chunk)));
    child.stderr!.on('data', this.guard((chunk: Buffer) => this.sendOutput(FrameType.STDERR, chunk)));
    if (child.stdin) {
      child.stdin.on('error', () => {
        // EPIPE: the command stopped reading. Drop further input instead of failing the run.
        this.stdinClosed = true;
      });
      // A socket paused for stdin backpressure must not stay paused once nobody will drain it.
      child.stdin.on('close', () => this.socket.resume());
    }

    if (req.timeoutMs) {
      this.runTimer = setTimeout(
        this.guard(() => {
          this.timedOut = true;
          this.killGroup();
        }),
        req.timeoutMs,
      );
    }
  }

  private onStdin(payload: Buffer): void {
    const stdin = this.child?.stdin;
    // Input for a command that took none, or that already closed its stdin, is dropped: the
    // client cannot know when the child stopped reading.
    if (!stdin || this.stdinClosed || !stdin.writable) return;
    if (payload.length === 0) {
      this.stdinClosed = true;
      stdin.end();
      return;
    }
    if (!stdin.write(payload)) {
      this.socket.pause();
      stdin.once('drain', () => this.socket.resume());
    }
  }

  private sendOutput(type: FrameType, chunk: Buffer): void {
    if (this.state === 'closing' || !this.socket.writable) return;
    if (!this.socket.write(encodeFrame(type, chunk)) && !this.outputPaused) {
      this.outputPaused = true;
      this.child?.stdout?.pause();
      this.child?.stderr?.pause();
    }
  }

  private resumeOutput(): void {
    if (!this.outputPaused) return;
    this.outputPaused = false;
    this.child?.stdout?.resume();
    this.child?.stderr?.resume();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal, at: performance.now() };
    this.clearTimer('runTimer');
    if (this.statusFile) {
      const inner = takeStatusFile(this.statusFile);
      this.statusFile = null;
      if (inner !== null && signal === null) this.exit.code = inner;
    }
    const armGrace = (): void => {
      this.graceTimer = setTimeout(
        this.guard(() => {
          // Output held back by a slow client is still the command's; only give up on pipes
          // that are idle because someone else (a background job) keeps them open.
          if (this.outputPaused) {
            armGrace();
            return;
          }
          this.child?.stdout?.destroy();
          this.child?.stderr?.destroy();
          this.finish();
        }),
        OUTPUT_GRACE_MS,
      );
    };
    armGrace();
  }

  /** Sends EXIT once the child has exited and its output has been forwarded. */
  private finish(): void {
    if (this.state === 'closing' || !this.exit || !this.req) return;
    this.state = 'closing';
    this.clearTimer('graceTimer');
    const status: ExitStatus = {
      code: this.exit.code,
      signal: this.exit.signal,
      durationMs: Math.round((this.exit.at - this.startedAt) * 1000) / 1000,
      timedOut: this.timedOut,
    };
    const outcome = status.signal ? `signal=${status.signal}` : `code=${status.code}`;
    this.agent.log(
      `${new Date().toISOString()} ${this.remote} ${summarise(this.req)} -> ${outcome}` +
        `${status.timedOut ? ' (timed out)' : ''} ${status.durationMs.toFixed(1)}ms`,
    );
    if (this.socket.writable) this.socket.end(encodeJsonFrame(FrameType.EXIT, status));
    this.lingerThenDestroy();
  }

  /** Refuses the connection (or aborts its command) with an ERROR frame, then closes. */
  private fail(code: LabAgentErrorCode, message: string): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.clearTimers();
    this.killGroup();
    this.agent.log(`${new Date().toISOString()} ${this.remote} ${code}: ${message}`);
    const payload: ErrorPayload = { code, message };
    if (this.socket.writable) this.socket.end(encodeJsonFrame(FrameType.ERROR, payload));
    this.lingerThenDestroy();
  }

  private lingerThenDestroy(): void {
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  private onClose(): void {
    this.clearTimers();
    this.agent.connections.delete(this);
    if (this.spawned && !this.exit) {
      this.agent.log(`${new Date().toISOString()} ${this.remote} client went away; killing ${summarise(this.req!)}`);
      this.killGroup();
    }
  }

  /** SIGKILL to the whole process group, while its leader is still ours to signal. */
  private killGroup(): void {
    const pid = this.child?.pid;
    // Once the leader has exited and been reaped its pid (and so the group id) may be reused,
    // so the group is only signalled while the leader is known to be alive.
    if (pid === undefined || this.exit) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }

  private clearTimer(name: 'helloTimer' | 'runTimer' | 'graceTimer'): void {
    const timer = this[name];
    if (timer) clearTimeout(timer);
    this[name] = null;
  }

  private clearTimers(): void {
    this.clearTimer('helloTimer');
    this.clearTimer('runTimer');
    this.clearTimer('graceTimer');
  }
}

// ---------------------------------------------------------------------------------------------

/** Starts the agent; resolves once it is listening. */
export function startAgent(options: AgentOptions): Promise<net.Server> {
  const { host, port, token } = options;
  if (typeof token !== 'string' || token === '') {
    return Promise.reject(new LabAgentError('ECONFIG', 'the agent needs a non-empty token'));
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.reject(new LabAgentError('ECONFIG', `port must be an integer from 0 to 65535, got ${port}`));
  }
  const context: AgentContext = {
    tokenDigest: digest(token),
    helloTimeoutMs: options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
    log: options.log ?? (() => {}),
    connections: new Set(),
  };
  const server = net.createServer((socket) => {
    try {
      new Connection(socket, context);
    } catch (err) {
      context.log(`${new Date().toISOString()} cannot set up connection: ${errorMessage(err)}`);
      socket.destroy();
    }
  });
  agents.set(server, context);
  return new Promise((resolve, reject) => {
    const onListenError = (err: Error): void => {
      reject(new LabAgentError('ECONFIG', `the agent cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
    };
    server.once('error', onListenError);
    server.listen({ host, port }, () => {
      server.off('error', onListenError);
      // Errors after listening (accept() running out of descriptors) are logged, not fatal.
      server.on('error', (err) => context.log(`${new Date().toISOString()} server error: ${err.message}`));
      resolve(server);
    });
  });
}

/** Stops listening, kills every running command and drops every connection. */
export function stopAgent(server: net.Server): Promise<void> {
  const context = agents.get(server);
  for (const connection of context?.connections ?? []) connection.abort();
  return new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Entry point: node dist/lab/agent/server.js --port 7000 --token-file /etc/lightvm/agent-token

const USAGE = 'usage: server.js --port N [--host H] --token-file PATH';

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LabAgentError('ECONFIG', `cannot read the token file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const token = text.trim();
  if (token === '') throw new LabAgentError('ECONFIG', `the token file ${file} is empty`);
  return token;
}

function parseCommandLine(argv: string[]): { host: string; port: number; tokenFile: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '0.0.0.0' },
        'token-file': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new LabAgentError('ECONFIG', `${errorMessage(err)}\n${USAGE}`, { cause: err });
  }
  const port = Number(values.port);
  if (values.port === undefined || !/^\d+$/.test(values.port) || port > 65535) {
    throw new LabAgentError('ECONFIG', `--port must be a port number, got ${values.port ?? 'nothing'}\n${USAGE}`);
  }
  if (!values['token-file']) throw new LabAgentError('ECONFIG', `--token-file is required\n${USAGE}`);
  return { host: values.host ?? '0.0.0.0', port, tokenFile: values['token-file'] };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  let server: net.Server;
  try {
    const args = parseCommandLine(argv);
    server = await startAgent({ host: args.host, port: args.port, token: readToken(args.tokenFile), log });
    log(`${new Date().toISOString()} lightvm agent listening on ${args.host}:${args.port} (pid ${process.pid})`);
  } catch (err) {
    log(`lightvm agent: ${errorMessage(err)}`);
    process.exitCode = err instanceof LabAgentError && err.code === 'ECONFIG' ? 2 : 1;
    return;
  }
  // The handlers already guard every callback; this is the net under the net. A lab without its
  // agent is a lab that must be rebooted, which costs far more than a logged stray exception.
  process.on('uncaughtException', (err) => log(`${new Date().toISOString()} uncaught: ${err.stack ?? err}`));
  const shutdown = (signal: string): void => {
    log(`${new Date().toISOString()} ${signal}: stopping`);
    void stopAgent(server).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) void main();
