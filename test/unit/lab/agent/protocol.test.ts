// Unit tests of the agent wire protocol: framing, the streaming decoder and every payload rule.

import t, { type Test } from 'tap';
import {
  encodeFrame,
  encodeJsonFrame,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  LabAgentError,
  LabAgentErrorCodes,
  MAX_PAYLOAD,
  MAX_TIMEOUT_MS,
  parseErrorPayload,
  parseExitStatus,
  parseHello,
  parseRunRequest,
  shJoin,
  shQuote,
  validateRunRequest,
  type FrameType as FrameTypeCode,
} from '../../../../lab/agent/protocol.js';

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(length, 1);
  return h;
}

/** Checks that err is a LabAgentError with the code and a sentence matching pattern. */
function expectAgentError(tt: Test, err: unknown, code: string, pattern: RegExp, what: string): void {
  tt.ok(err instanceof LabAgentError, `${what}: throws a LabAgentError`);
  tt.match(err, { code, message: pattern }, `${what}: code and message`);
}

/** Runs fn and returns what it threw, so the error can be matched on code and sentence. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('encodeFrame lays out type, big-endian length, payload', async (tt) => {
  const frame = encodeFrame(FrameType.STDOUT, Buffer.from('hi'));
  tt.same([...frame], [0x11, 0, 0, 0, 2, 0x68, 0x69]);
  tt.same([...encodeFrame(FrameType.STDIN)], [0x03, 0, 0, 0, 0], 'zero-length STDIN (EOF)');
  tt.equal(FrameType.HELLO, 0x01);
  tt.equal(FrameType.RUN, 0x02);
  tt.equal(FrameType.STDIN, 0x03);
  tt.equal(FrameType.STDOUT, 0x11);
  tt.equal(FrameType.STDERR, 0x12);
  tt.equal(FrameType.EXIT, 0x13);
  tt.equal(FrameType.ERROR, 0x14);
});

t.test('encodeFrame refuses unknown types and oversized payloads', async (tt) => {
  expectAgentError(tt, thrown(() => encodeFrame(0x7f as FrameTypeCode, Buffer.alloc(1))), 'EPROTO', /unknown type 0x7f/, 'type');
  expectAgentError(tt, thrown(() => encodeFrame(FrameType.STDOUT, Buffer.alloc(MAX_PAYLOAD + 1))), 'EPROTO', /limit/, 'size');
  tt.equal(encodeFrame(FrameType.STDOUT, Buffer.alloc(MAX_PAYLOAD)).length, MAX_PAYLOAD + FRAME_HEADER_SIZE, 'exactly the limit is fine');
});

t.test('decoder round-trips many frames in one chunk', async (tt) => {
  const frames = [
    encodeJsonFrame(FrameType.HELLO, { version: 1, token: 'x' }),
    encodeJsonFrame(FrameType.RUN, { argv: ['echo', 'hi'] }),
    encodeFrame(FrameType.STDIN, Buffer.from('data')),
    encodeFrame(FrameType.STDIN),
  ];
  const out = new FrameDecoder().push(Buffer.concat(frames));
  tt.equal(out.length, 4);
  tt.same(out.map((f) => f.type), [FrameType.HELLO, FrameType.RUN, FrameType.STDIN, FrameType.STDIN]);
  tt.same(parseHello(out[0]!.payload), { version: 1, token: 'x' });
  tt.same(parseRunRequest(out[1]!.payload), { argv: ['echo', 'hi'] });
  tt.equal(out[2]!.payload.toString(), 'data');
  tt.equal(out[3]!.payload.length, 0);
});

t.test('decoder reassembles frames split at every byte boundary', async (tt) => {
  const stream = Buffer.concat([
    encodeFrame(FrameType.STDOUT, Buffer.from('hello world')),
    encodeFrame(FrameType.STDERR, Buffer.from('oops')),
    encodeFrame(FrameType.STDOUT),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new FrameDecoder();
    const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
    tt.same(
      frames.map((f) => [f.type, f.payload.toString()]),
      [
        [FrameType.STDOUT, 'hello world'],
        [FrameType.STDERR, 'oops'],
        [FrameType.STDOUT, ''],
      ],
      `cut at ${cut}`,
    );
    tt.equal(decoder.pending, 0);
  }
  const decoder = new FrameDecoder();
  const oneByOne = [...stream].flatMap((byte) => decoder.push(Buffer.from([byte])));
  tt.equal(oneByOne.length, 3, 'byte-at-a-time');
});

t.test('decoder reports a partial frame as pending', async (tt) => {
  const decoder = new FrameDecoder();
  tt.same(decoder.push(encodeFrame(FrameType.STDOUT, Buffer.from('abcdef')).subarray(0, 7)), []);
  tt.equal(decoder.pending, 7);
});

t.test('decoder refuses an oversized frame from its header alone', async (tt) => {
  const decoder = new FrameDecoder();
  expectAgentError(tt, thrown(() => decoder.push(header(FrameType.STDIN, MAX_PAYLOAD + 1))), 'EPROTO', /16777217 bytes.*limit is 16777216/, 'oversize');
  expectAgentError(tt, thrown(() => decoder.push(Buffer.from('more'))), 'EPROTO', /16777217/, 'stays failed');
  tt.same(new FrameDecoder().push(header(FrameType.STDIN, MAX_PAYLOAD)), [], 'the limit itself is accepted');
});

t.test('decoder refuses an unknown type', async (tt) => {
  expectAgentError(tt, thrown(() => new FrameDecoder().push(Buffer.from('GET / HTTP/1.1\r\n'))), 'EPROTO', /unknown type 0x47/, 'garbage');
  expectAgentError(tt, thrown(() => new FrameDecoder().push(header(0x00, 0))), 'EPROTO', /unknown type 0x00/, 'zero');
});

t.test('HELLO validation', async (tt) => {
  tt.same(parseHello(json({ version: 1, token: 'abc' })), { version: 1, token: 'abc' });
  expectAgentError(tt, thrown(() => parseHello(Buffer.from('{nope'))), 'EPROTO', /HELLO: payload is not valid JSON/, 'bad json');
  expectAgentError(tt, thrown(() => parseHello(json([1]))), 'EPROTO', /expected a JSON object, got an array/, 'array');
  expectAgentError(tt, thrown(() => parseHello(json({ version: 2, token: 'a' }))), 'EPROTO', /unsupported protocol version 2/, 'version');
  expectAgentError(tt, thrown(() => parseHello(json({ token: 'a' }))), 'EPROTO', /unsupported protocol version/, 'no version');
  expectAgentError(tt, thrown(() => parseHello(json({ version: 1, token: 5 }))), 'EPROTO', /token must be a string/, 'token type');
  expectAgentError(tt, thrown(() => parseHello(json({ version: 1, token: 'a', extra: 1 }))), 'EPROTO', /unknown field "extra"/, 'extra');
});

t.test('RUN validation accepts every field', async (tt) => {
  const full = {
    argv: ['ls', '-l'],
    cwd: '/tmp',
    env: { A: '1', B: '' },
    timeoutMs: 0,
    tty: true,
    stdin: false,
  };
  tt.same(parseRunRequest(json(full)), full);
  tt.same(parseRunRequest(json({ cmd: 'echo $HOME', timeoutMs: MAX_TIMEOUT_MS })), { cmd: 'echo $HOME', timeoutMs: MAX_TIMEOUT_MS });
  tt.same(validateRunRequest({ argv: ['true'], cmd: undefined }), { argv: ['true'] }, 'undefined fields count as absent');
});

t.test('RUN validation rejects each broken rule', async (tt) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', 'echo', /expected a JSON object, got a string/],
    ['null', null, /got null/],
    ['neither', {}, /give argv .* or cmd/],
    ['both', { argv: ['a'], cmd: 'a' }, /either argv or cmd, not both/],
    ['argv not array', { argv: 'ls' }, /argv must be an array of strings/],
    ['empty argv', { argv: [] }, /argv must not be empty/],
    ['argv element type', { argv: ['ls', 3] }, /argv\[1\] must be a string, got a number/],
    ['empty program', { argv: [''] }, /argv\[0\] .* must not be empty/],
    ['NUL in argv', { argv: ['a\0b'] }, /argv\[0\] contains a NUL byte/],
    ['cmd type', { cmd: ['ls'] }, /cmd must be a string, got an array/],
    ['empty cmd', { cmd: '  ' }, /cmd must not be empty/],
    ['cwd type', { argv: ['ls'], cwd: 1 }, /cwd must be a non-empty string/],
    ['empty cwd', { argv: ['ls'], cwd: '' }, /cwd must be a non-empty string/],
    ['env not object', { argv: ['ls'], env: ['A=1'] }, /env: expected a JSON object, got an array/],
    ['env value type', { argv: ['ls'], env: { A: 1 } }, /env\.A must be a string, got a number/],
    ['env null value', { argv: ['ls'], env: { A: null } }, /env\.A must be a string, got null/],
    ['env bad name', { argv: ['ls'], env: { 'A=B': 'x' } }, /env name "A=B" is not a valid variable name/],
    ['negative timeout', { argv: ['ls'], timeoutMs: -1 }, /timeoutMs must be a non-negative integer/],
    ['fractional timeout', { argv: ['ls'], timeoutMs: 1.5 }, /timeoutMs must be a non-negative integer/],
    ['string timeout', { argv: ['ls'], timeoutMs: '10' }, /timeoutMs must be a non-negative integer/],
    ['huge timeout', { argv: ['ls'], timeoutMs: MAX_TIMEOUT_MS + 1 }, /timeoutMs must be at most 2147483647/],
    ['tty type', { argv: ['ls'], tty: 'yes' }, /tty must be a boolean/],
    ['stdin type', { argv: ['ls'], stdin: 1 }, /stdin must be a boolean/],
    ['unknown field', { argv: ['ls'], timeout: 5 }, /unknown field "timeout"/],
  ];
  for (const [name, value, pattern] of cases) {
    expectAgentError(tt, thrown(() => validateRunRequest(value)), 'EPROTO', pattern, name);
    if (value !== undefined) {
      expectAgentError(tt, thrown(() => parseRunRequest(json(value))), 'EPROTO', pattern, `${name} (wire)`);
    }
  }
});

t.test('EXIT validation', async (tt) => {
  const ok = { code: 0, signal: null, durationMs: 1.5, timedOut: false };
  tt.same(parseExitStatus(json(ok)), ok);
  tt.same(parseExitStatus(json({ ...ok, code: null, signal: 'SIGKILL', timedOut: true })), {
    code: null,
    signal: 'SIGKILL',
    durationMs: 1.5,
    timedOut: true,
  });
  expectAgentError(tt, thrown(() => parseExitStatus(json({ ...ok, code: '0' }))), 'EPROTO', /code must be an integer or null/, 'code');
  expectAgentError(tt, thrown(() => parseExitStatus(json({ ...ok, signal: 9 }))), 'EPROTO', /signal must be a string or null/, 'signal');
  expectAgentError(tt, thrown(() => parseExitStatus(json({ ...ok, durationMs: -1 }))), 'EPROTO', /durationMs/, 'duration');
  expectAgentError(tt, thrown(() => parseExitStatus(json({ ...ok, timedOut: 'no' }))), 'EPROTO', /timedOut must be a boolean/, 'timedOut');
});

t.test('ERROR validation', async (tt) => {
  tt.same(parseErrorPayload(json({ code: 'EAUTH', message: 'no' })), { code: 'EAUTH', message: 'no' });
  expectAgentError(tt, thrown(() => parseErrorPayload(json({ code: 'EWHAT', message: 'x' }))), 'EPROTO', /code must be one of/, 'unknown code');
  expectAgentError(tt, thrown(() => parseErrorPayload(json({ code: 'EAUTH' }))), 'EPROTO', /message must be a string/, 'message');
});

t.test('LabAgentError carries code, sentence and cause', async (tt) => {
  const cause = new Error('root');
  const err = new LabAgentError('ECONNECT', 'cannot connect', { cause });
  tt.ok(err instanceof Error);
  tt.equal(err.name, 'LabAgentError');
  tt.equal(err.code, 'ECONNECT');
  tt.equal(err.message, 'cannot connect');
  tt.equal(err.cause, cause);
  for (const code of ['EPROTO', 'EAUTH', 'ETIMEDOUT', 'ECONNECT', 'ESPAWN', 'ECONFIG', 'EINTERNAL']) {
    tt.type(LabAgentErrorCodes[code as keyof typeof LabAgentErrorCodes], 'string', `${code} is catalogued`);
  }
});

t.test('shell quoting', async (tt) => {
  tt.equal(shQuote('plain/path-1.0'), 'plain/path-1.0');
  tt.equal(shQuote(''), "''");
  tt.equal(shQuote("it's"), `'it'\\''s'`);
  tt.equal(shJoin(['echo', 'a b', '$HOME']), "echo 'a b' '$HOME'");
});
