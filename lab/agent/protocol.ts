// Wire protocol of the dom0 command agent: frame layout, streaming decoder, typed payload parsers.
//
// A frame is [type: u8][length: u32 big-endian][payload]. One connection carries one command:
//   client → server: HELLO, RUN, then any number of STDIN (a zero-length STDIN is EOF)
//   server → client: any number of STDOUT / STDERR, then EXIT; or ERROR at any point, then close.
// Both ends import this file, so it must stay free of npm dependencies (the agent starts in an
// emulated dom0 where every module load costs real time).

export const PROTOCOL_VERSION = 1;

/** Frame type codes. Client-to-server codes are below 0x10, server-to-client codes above. */
export const FrameType = {
  HELLO: 0x01,
  RUN: 0x02,
  STDIN: 0x03,
  STDOUT: 0x11,
  STDERR: 0x12,
  EXIT: 0x13,
  ERROR: 0x14,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const FRAME_TYPE_NAMES = new Map<number, string>(
  Object.entries(FrameType).map(([name, code]) => [code, name]),
);

/** Bytes of the [type][length] header. */
export const FRAME_HEADER_SIZE = 5;

/**
 * Largest payload either side accepts. Command output is streamed in small frames, so anything
 * near this size is a bug or hostile input, and refusing it bounds the memory one peer can pin.
 */
export const MAX_PAYLOAD = 16 * 1024 * 1024;

/**
 * Largest timeoutMs a RUN may carry: setTimeout fires at once for delays above 2^31-1 ms,
 * which would turn a very long timeout into an immediate kill.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The error catalogue: every code a LabAgentError can carry, with what it means. */
export const LabAgentErrorCodes = {
  EPROTO: 'a peer broke the wire protocol (bad frame, bad payload, or the connection ended early)',
  EAUTH: 'the client did not authenticate: wrong token, or no HELLO as the first frame in time',
  ETIMEDOUT: 'the client gave up waiting for the agent within its own deadline',
  ECONNECT: 'the client could not open a TCP connection to the agent',
  ESPAWN: 'the agent could not start the requested command',
  ECONFIG: 'the agent was started with unusable options (no token, bad port)',
  EINTERNAL: 'the agent hit an unexpected fault while serving the connection',
  EABORTED: 'the client stopped waiting (its caller was interrupted); the agent kills the command when the connection drops',
} as const;
export type LabAgentErrorCode = keyof typeof LabAgentErrorCodes;

function isErrorCode(value: string): value is LabAgentErrorCode {
  return Object.prototype.hasOwnProperty.call(LabAgentErrorCodes, value);
}

/** The one error type of the agent and its client: a stable code plus a readable sentence. */
export class LabAgentError extends Error {
  readonly code: LabAgentErrorCode;

  constructor(code: LabAgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabAgentError';
    this.code = code;
  }
}

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

export interface Hello {
  version: number;
  token: string;
}

export interface RunRequest {
  /** Program and arguments, executed directly (no shell). Exactly one of argv and cmd. */
  argv?: string[];
  /** A shell command line, run with /bin/sh -c. Exactly one of argv and cmd. */
  cmd?: string;
  /** Working directory of the child; the agent's own when absent. */
  cwd?: string;
  /** Variables added to (and overriding) the agent's environment. */
  env?: Record<string, string>;
  /** Kill the command's process group after this many milliseconds; 0 or absent: no limit. */
  timeoutMs?: number;
  /** Run under a pseudo-terminal (stdout and stderr then arrive merged as STDOUT). */
  tty?: boolean;
  /** Forward STDIN frames to the child; when false or absent its stdin is /dev/null. */
  stdin?: boolean;
}

export interface ExitStatus {
  /** Exit code, or null when the child was ended by a signal. */
  code: number | null;
  /** Name of the signal that ended the child (e.g. 'SIGKILL'), or null. */
  signal: string | null;
  /** Wall-clock time from spawn to exit, measured in dom0. */
  durationMs: number;
  /** True when the agent killed the command because timeoutMs elapsed. */
  timedOut: boolean;
}

export interface ErrorPayload {
  code: LabAgentErrorCode;
  message: string;
}

/** Human name of a frame type for messages, e.g. 'RUN' or '0x7f'. */
export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export function isFrameType(type: number): type is FrameType {
  return FRAME_TYPE_NAMES.has(type);
}

/** Builds one frame; refuses payloads the other side would reject anyway. */
export function encodeFrame(type: FrameType, payload: Buffer | Uint8Array = Buffer.alloc(0)): Buffer {
  if (!isFrameType(type)) {
    throw new LabAgentError('EPROTO', `cannot encode a frame of unknown type ${frameTypeName(type)}`);
  }
  if (payload.length > MAX_PAYLOAD) {
    throw new LabAgentError(
      'EPROTO',
      `cannot encode a ${frameTypeName(type)} frame of ${payload.length} bytes: the limit is ${MAX_PAYLOAD}`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, FRAME_HEADER_SIZE);
  return frame;
}

/** Builds a frame whose payload is the JSON form of value. */
export function encodeJsonFrame(type: FrameType, value: unknown): Buffer {
  return encodeFrame(type, Buffer.from(JSON.stringify(value), 'utf8'));
}

/**
 * Turns a byte stream into frames. The header is checked as soon as its five bytes are in, so
 * an oversized or unknown frame is refused before any of its payload is buffered. After an
 * error the decoder stays failed: the stream has lost its framing and cannot be resynchronised.
 */
export class FrameDecoder {
  private header = Buffer.alloc(FRAME_HEADER_SIZE);
  private headerFill = 0;
  private current: { type: FrameType; payload: Buffer; fill: number } | null = null;
  private failure: LabAgentError | null = null;

  /** Bytes of an incomplete frame held back; non-zero at end of stream means truncation. */
  get pending(): number {
    return this.current ? FRAME_HEADER_SIZE + this.current.fill : this.headerFill;
  }

  push(chunk: Buffer | Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.current) {
        const take = Math.min(FRAME_HEADER_SIZE - this.headerFill, chunk.length - offset);
        this.header.set(chunk.subarray(offset, offset + take), this.headerFill);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < FRAME_HEADER_SIZE) break;
        this.startFrame();
      }
      const frame = this.current!;
      // Copy into a buffer of the announced size rather than concatenating chunks, so a large
      // frame arriving in many small reads costs linear, not quadratic, copying.
      const take = Math.min(frame.payload.length - frame.fill, chunk.length - offset);
      frame.payload.set(chunk.subarray(offset, offset + take), frame.fill);
      frame.fill += take;
      offset += take;
      if (frame.fill === frame.payload.length) {
        frames.push({ type: frame.type, payload: frame.payload });
        this.current = null;
        this.headerFill = 0;
      }
    }
    return frames;
  }

  private startFrame(): void {
    const type = this.header.readUInt8(0);
    const length = this.header.readUInt32BE(1);
    if (!isFrameType(type)) {
      this.failure = new LabAgentError('EPROTO', `received a frame of unknown type ${frameTypeName(type)}`);
      throw this.failure;
    }
    if (length > MAX_PAYLOAD) {
      this.failure = new LabAgentError(
        'EPROTO',
        `received a ${frameTypeName(type)} frame announcing ${length} bytes: the limit is ${MAX_PAYLOAD}`,
      );
      throw this.failure;
    }
    this.current = { type, payload: Buffer.allocUnsafe(length), fill: 0 };
  }
}

// ---------------------------------------------------------------------------------------------
// Payload parsers: one per JSON frame type, each turning untrusted bytes into a typed value or
// a LabAgentError('EPROTO') whose message names the frame and the offending field.

type JsonObject = Record<string, unknown>;

function protoError(what: string, problem: string): LabAgentError {
  return new LabAgentError('EPROTO', `${what}: ${problem}`);
}

function parseJsonObject(what: string, payload: Buffer): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new LabAgentError('EPROTO', `${what}: payload is not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  return expectObject(what, value);
}

function expectObject(what: string, value: unknown): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protoError(what, `expected a JSON object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

function rejectUnknownKeys(what: string, obj: JsonObject, allowed: readonly string[]): void {
  // Unknown keys are refused rather than ignored: a misspelt "timeout" silently doing nothing
  // is worse than an error, and HELLO's version is the place to negotiate new fields.
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw protoError(what, `unknown field "${key}" (allowed: ${allowed.join(', ')})`);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function hasNul(s: string): boolean {
  return s.includes('\0');
}

function optionalBoolean(what: string, obj: JsonObject, key: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw protoError(what, `${key} must be a boolean, got ${describe(value)}`);
  return value;
}

export function parseHello(payload: Buffer): Hello {
  const what = 'HELLO';
  const obj = parseJsonObject(what, payload);
  rejectUnknownKeys(what, obj, ['version', 'token']);
  if (obj.version !== PROTOCOL_VERSION) {
    throw protoError(what, `unsupported protocol version ${JSON.stringify(obj.version)} (this agent speaks ${PROTOCOL_VERSION})`);
  }
  if (typeof obj.token !== 'string') throw protoError(what, `token must be a string, got ${describe(obj.token)}`);
  return { version: obj.version, token: obj.token };
}

/** Checks a RunRequest already in memory; the client uses it to fail before connecting. */
export function validateRunRequest(value: unknown): RunRequest {
  const what = 'RUN request';
  const obj = expectObject(what, value);
  rejectUnknownKeys(what, obj, ['argv', 'cmd', 'cwd', 'env', 'timeoutMs', 'tty', 'stdin']);
  const req: RunRequest = {};

  if (obj.argv !== undefined && obj.cmd !== undefined) {
    throw protoError(what, 'give either argv or cmd, not both');
  }
  if (obj.argv === undefined && obj.cmd === undefined) {
    throw protoError(what, 'give argv (a program and its arguments) or cmd (a shell command line)');
  }
  if (obj.argv !== undefined) {
    const argv = obj.argv;
    if (!Array.isArray(argv)) throw protoError(what, `argv must be an array of strings, got ${describe(argv)}`);
    if (argv.length === 0) throw protoError(what, 'argv must not be empty');
    argv.forEach((arg, i) => {
      if (typeof arg !== 'string') throw protoError(what, `argv[${i}] must be a string, got ${describe(arg)}`);
      if (hasNul(arg)) throw protoError(what, `argv[${i}] contains a NUL byte`);
    });
    if (argv[0] === '') throw protoError(what, 'argv[0] (the program) must not be empty');
    req.argv = [...(argv as string[])];
  }
  if (obj.cmd !== undefined) {
    if (typeof obj.cmd !== 'string') throw protoError(what, `cmd must be a string, got ${describe(obj.cmd)}`);
    if (obj.cmd.trim() === '') throw protoError(what, 'cmd must not be empty');
    if (hasNul(obj.cmd)) throw protoError(what, 'cmd contains a NUL byte');
    req.cmd = obj.cmd;
  }
  if (obj.cwd !== undefined) {
    if (typeof obj.cwd !== 'string' || obj.cwd === '') {
      throw protoError(what, `cwd must be a non-empty string, got ${describe(obj.cwd)}`);
    }
    if (hasNul(obj.cwd)) throw protoError(what, 'cwd contains a NUL byte');
    req.cwd = obj.cwd;
  }
  if (obj.env !== undefined) {
    const env = expectObject(`${what} env`, obj.env);
    const copy: Record<string, string> = {};
    for (const [key, val] of Object.entries(env)) {
      if (key === '' || key.includes('=') || hasNul(key)) {
        throw protoError(what, `env name ${JSON.stringify(key)} is not a valid variable name`);
      }
      if (typeof val !== 'string') throw protoError(what, `env.${key} must be a string, got ${describe(val)}`);
      if (hasNul(val)) throw protoError(what, `env.${key} contains a NUL byte`);
      copy[key] = val;
    }
    req.env = copy;
  }
  if (obj.timeoutMs !== undefined) {
    const t = obj.timeoutMs;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      throw protoError(what, `timeoutMs must be a non-negative integer number of milliseconds, got ${JSON.stringify(t)}`);
    }
    if (t > MAX_TIMEOUT_MS) throw protoError(what, `timeoutMs must be at most ${MAX_TIMEOUT_MS}, got ${t}`);
    req.timeoutMs = t;
  }
  const tty = optionalBoolean(what, obj, 'tty');
  if (tty !== undefined) req.tty = tty;
  const stdin = optionalBoolean(what, obj, 'stdin');
  if (stdin !== undefined) req.stdin = stdin;
  return req;
}

export function parseRunRequest(payload: Buffer): RunRequest {
  return validateRunRequest(parseJsonObject('RUN request', payload));
}

export function parseExitStatus(payload: Buffer): ExitStatus {
  const what = 'EXIT';
  const obj = parseJsonObject(what, payload);
  rejectUnknownKeys(what, obj, ['code', 'signal', 'durationMs', 'timedOut']);
  const { code, signal, durationMs, timedOut } = obj;
  if (code !== null && !(typeof code === 'number' && Number.isInteger(code))) {
    throw protoError(what, `code must be an integer or null, got ${JSON.stringify(code)}`);
  }
  if (signal !== null && typeof signal !== 'string') {
    throw protoError(what, `signal must be a string or null, got ${describe(signal)}`);
  }
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
    throw protoError(what, `durationMs must be a non-negative number, got ${JSON.stringify(durationMs)}`);
  }
  if (typeof timedOut !== 'boolean') throw protoError(what, `timedOut must be a boolean, got ${describe(timedOut)}`);
  return { code, signal, durationMs, timedOut };
}

export function parseErrorPayload(payload: Buffer): ErrorPayload {
  const what = 'ERROR';
  const obj = parseJsonObject(what, payload);
  rejectUnknownKeys(what, obj, ['code', 'message']);
  if (typeof obj.code !== 'string' || !isErrorCode(obj.code)) {
    throw protoError(what, `code must be one of ${Object.keys(LabAgentErrorCodes).join(', ')}, got ${JSON.stringify(obj.code)}`);
  }
  if (typeof obj.message !== 'string') throw protoError(what, `message must be a string, got ${describe(obj.message)}`);
  return { code: obj.code, message: obj.message };
}

// ---------------------------------------------------------------------------------------------
// POSIX shell quoting. It lives here because both ends need it (a tty command travels as one
// `script -c` line) and the agent may import nothing but this file and node builtins.

/** Quotes one word so any POSIX shell reads it back unchanged. */
export function shQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  // Inside single quotes nothing is special except the quote itself, which has to be closed,
  // escaped and reopened.
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv into a command line that a POSIX shell splits back into the same words. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}
