// Host-side client of the dom0 command agent: run a command in the lab, stream or collect its output.

import net from 'node:net';
import os from 'node:os';
import {
  encodeFrame,
  encodeJsonFrame,
  FrameDecoder,
  frameTypeName,
  FrameType,
  LabAgentError,
  MAX_PAYLOAD,
  parseErrorPayload,
  parseExitStatus,
  PROTOCOL_VERSION,
  shJoin,
  validateRunRequest,
  type ExitStatus,
  type Frame,
  type Hello,
  type RunRequest,
} from './protocol.js';

export interface AgentEndpoint {
  host: string;
  port: number;
  token: string;
}

export interface RunOptions {
  /** Called with each chunk of stdout as it arrives (it is also kept in the result). */
  onStdout?(chunk: Buffer): void;
  /** Called with each chunk of stderr as it arrives (it is also kept in the result). */
  onStderr?(chunk: Buffer): void;
  /** Forwarded to the command's stdin, its end becoming EOF. Without it the command reads /dev/null. */
  stdin?: NodeJS.ReadableStream;
  /** Give up on the TCP connection after this long; 10 s by default. */
  connectTimeoutMs?: number;
  /**
   * Client-side deadline for the whole exchange, failing with ETIMEDOUT. The command's own
   * limit is RunRequest.timeoutMs; this one guards against an agent that never answers.
   */
  timeoutMs?: number;
  /** Keep output in the result; false for long interactive sessions that only stream. Default true. */
  keepOutput?: boolean;
  /** Aborting it fails the call with EABORTED and drops the connection, which makes the agent kill the command. */
  signal?: AbortSignal;
}

export interface RunResult extends ExitStatus {
  stdout: Buffer;
  stderr: Buffer;
  /** True when stdout exceeded MAX_CAPTURE and the rest was dropped from the result. */
  stdoutTruncated: boolean;
  /** True when stderr exceeded MAX_CAPTURE and the rest was dropped from the result. */
  stderrTruncated: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Most bytes of each stream kept in a RunResult; callbacks still see everything. */
export const MAX_CAPTURE = 64 * 1024 * 1024;

/** Accumulates one output stream up to a cap, remembering whether anything was dropped. */
class Capture {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly keep: boolean) {}

  add(chunk: Buffer): void {
    if (!this.keep) return;
    const room = MAX_CAPTURE - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function describeConnectError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the lab running and its agent started?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    default:
      return err.message;
  }
}

/** Runs one command through the agent and resolves with its exit status and output. */
export function runInLab(endpoint: AgentEndpoint, req: RunRequest, opts: RunOptions = {}): Promise<RunResult> {
  const where = `${endpoint.host}:${endpoint.port}`;
  const forwardStdin = opts.stdin !== undefined && req.stdin !== false;
  let request: RunRequest;
  try {
    // Checked here as well as in dom0 so a bad request fails before a connection is made.
    request = validateRunRequest({ ...req, stdin: forwardStdin });
  } catch (err) {
    return Promise.reject(err);
  }
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const keep = opts.keepOutput ?? true;

  return new Promise<RunResult>((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const decoder = new FrameDecoder();
    const stdout = new Capture(keep);
    const stderr = new Capture(keep);
    let connected = false;
    let settled = false;
    let detachStdin = (): void => {};

    const connectTimer = setTimeout(() => {
      settle(new LabAgentError('ECONNECT', `could not connect to the lab agent at ${where} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    const deadline =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            settle(new LabAgentError('ETIMEDOUT', `the lab agent at ${where} did not finish the command within ${opts.timeoutMs} ms`));
          }, opts.timeoutMs)
        : null;
    const onAbort = () => settle(new LabAgentError('EABORTED', `stopped waiting for the command at ${where}: interrupted`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) queueMicrotask(onAbort);

    function settle(error: unknown, result?: RunResult): void {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(connectTimer);
      if (deadline) clearTimeout(deadline);
      detachStdin();
      // Dropping the connection is also how an abandoned command gets killed: the agent kills
      // the process group of any client that goes away.
      socket.destroy();
      if (error) reject(error);
      else resolve(result!);
    }

    function onFrame(frame: Frame): void {
      switch (frame.type) {
        case FrameType.STDOUT:
          stdout.add(frame.payload);
          opts.onStdout?.(frame.payload);
          return;
        case FrameType.STDERR:
          stderr.add(frame.payload);
          opts.onStderr?.(frame.payload);
          return;
        case FrameType.EXIT: {
          const status = parseExitStatus(frame.payload);
          settle(null, {
            ...status,
            stdout: stdout.buffer(),
            stderr: stderr.buffer(),
            stdoutTruncated: stdout.truncated,
            stderrTruncated: stderr.truncated,
          });
          return;
        }
        case FrameType.ERROR: {
          const { code, message } = parseErrorPayload(frame.payload);
          settle(new LabAgentError(code, `${message} (lab agent at ${where})`));
          return;
        }
        default:
          throw new LabAgentError(
            'EPROTO',
            `the lab agent at ${where} sent a ${frameTypeName(frame.type)} frame, which only clients send`,
          );
      }
    }

    function attachStdin(stream: NodeJS.ReadableStream): void {
      let waitingForDrain = false;
      const onData = (chunk: Buffer | string): void => {
        if (settled || !socket.writable) return;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        // A zero-length STDIN frame means EOF, so empty reads must not be forwarded.
        for (let offset = 0; offset < bytes.length; offset += MAX_PAYLOAD) {
          const ok = socket.write(encodeFrame(FrameType.STDIN, bytes.subarray(offset, offset + MAX_PAYLOAD)));
          if (!ok && !waitingForDrain) {
            waitingForDrain = true;
            stream.pause();
            socket.once('drain', () => {
              waitingForDrain = false;
              if (!settled) stream.resume();
            });
          }
        }
      };
      const onEnd = (): void => {
        if (!settled && socket.writable) socket.write(encodeFrame(FrameType.STDIN));
      };
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.once('error', onEnd);
      detachStdin = () => {
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('error', onEnd);
        // A paused stdin lets the host process exit once the command is over.
        stream.pause();
      };
    }

    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      const hello: Hello = { version: PROTOCOL_VERSION, token: endpoint.token };
      socket.write(encodeJsonFrame(FrameType.HELLO, hello));
      socket.write(encodeJsonFrame(FrameType.RUN, request));
      if (forwardStdin && opts.stdin) attachStdin(opts.stdin);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) {
          if (settled) return;
          onFrame(frame);
        }
      } catch (err) {
        settle(err);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        settle(new LabAgentError('ECONNECT', `cannot connect to the lab agent at ${where}: ${describeConnectError(err)}`, { cause: err }));
      } else {
        settle(
          new LabAgentError('EPROTO', `the lab agent at ${where} closed the connection before the command finished (${err.message})`, {
            cause: err,
          }),
        );
      }
    });
    socket.on('close', () => {
      // QEMU's port forward accepts the connection even when nothing listens in dom0 yet and
      // then closes it, so "connected, then closed with no answer" is also how a not-yet-booted
      // lab looks.
      const midFrame = decoder.pending > 0 ? ' in the middle of a frame' : '';
      settle(new LabAgentError('EPROTO', `the lab agent at ${where} closed the connection${midFrame} before the command finished`));
    });
  });
}

/** True when the agent answers a trivial command within timeoutMs; for polling during boot. */
export async function pingAgent(endpoint: AgentEndpoint, timeoutMs: number): Promise<boolean> {
  try {
    const result = await runInLab(endpoint, { argv: ['true'] }, { connectTimeoutMs: timeoutMs, timeoutMs, keepOutput: false });
    return result.code === 0;
  } catch {
    return false;
  }
}

/** A shell-style exit code: the code itself, or 128 + the signal number when killed. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  const signals = os.constants.signals as Record<string, number | undefined>;
  const number = status.signal ? signals[status.signal] : undefined;
  return number !== undefined ? 128 + number : 1;
}

/**
 * An interactive session in dom0 on this process's terminal; resolves with the remote exit code.
 * The terminal goes into raw mode so keys such as Ctrl-C reach the remote pty instead of
 * signalling this process, and it is always put back, whatever happens.
 */
export async function shell(endpoint: AgentEndpoint, argv: string[] = ['/bin/sh', '-l']): Promise<number> {
  const stdin = process.stdin;
  const isTTY = stdin.isTTY === true;
  const wasRaw = isTTY ? stdin.isRaw : false;
  // The agent's pty cannot learn this terminal's size any other way: the protocol has no
  // resize message, so the size at start is applied once.
  let cmd = `exec ${shJoin(argv)}`;
  if (process.stdout.isTTY && process.stdout.columns && process.stdout.rows) {
    cmd = `stty rows ${process.stdout.rows} cols ${process.stdout.columns} 2>/dev/null; ${cmd}`;
  }
  const env = { TERM: process.env.TERM ?? (isTTY ? 'xterm' : 'dumb') };
  try {
    if (isTTY) stdin.setRawMode(true);
    const result = await runInLab(
      endpoint,
      { cmd, tty: true, stdin: true, env },
      {
        stdin,
        keepOutput: false,
        onStdout: (chunk) => process.stdout.write(chunk),
        onStderr: (chunk) => process.stderr.write(chunk),
      },
    );
    return exitCodeOf(result);
  } finally {
    if (isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
  }
}
