// Shared by the configuration tests: catching a ChaosError and checking its code, place, key and sentence.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { ChaosError, type ErrorCode } from '../../../../toolstack/errors.js';

/** The error `fn` throws (a test fails elsewhere if it throws none). */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

export async function caughtAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

export interface Expected {
  code: ErrorCode;
  file?: string;
  /** undefined: the error must carry no line (a missing key, an override). */
  line?: number;
  column?: number;
  key?: string;
  /** Matched against the message after its "file:line: " or "override ...: " place. */
  says: RegExp;
}

/**
 * Checks one error: a ChaosError with that code, file, line and key, whose message starts with the
 * place (file:line, file, or the override) and then reads as a sentence: words, not a code, and no
 * stack or object dump.
 */
export function checkError(tt: Test, err: unknown, want: Expected, what: string): void {
  tt.ok(err instanceof ChaosError, `${what}: throws a ChaosError`);
  if (!(err instanceof ChaosError)) {
    tt.comment(`${what}: got ${String(err)}`);
    return;
  }
  tt.equal(err.code, want.code, `${what}: code ${want.code}`);
  tt.equal(err.file, want.file, `${what}: file`);
  tt.equal(err.line, want.line, `${what}: line`);
  if (want.column !== undefined) tt.equal(err.column, want.column, `${what}: column`);
  tt.equal(err.key, want.key, `${what}: key`);
  const place = err.message.match(/^(override ".*?"|[^:\s]+(:\d+)?): /s);
  tt.ok(place, `${what}: the message starts with where (${err.message})`);
  if (want.file !== undefined && want.line !== undefined) tt.equal(place?.[1], `${want.file}:${want.line}`, `${what}: the place is file:line`);
  const sentence = err.message.slice(place?.[0].length ?? 0);
  tt.match(sentence, want.says, `${what}: says what is wrong`);
  tt.ok(sentence.split(/\s+/).length >= 4 && !/\[object|undefined|Error:/.test(sentence), `${what}: reads as a sentence: ${sentence}`);
}

/** The source tree's root (where package.json is), found from this compiled file wherever it runs from. */
export const ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    if (path.dirname(dir) === dir) throw new Error('no package.json above the tests');
    dir = path.dirname(dir);
  }
  return dir;
})();

export const FIXTURES = path.join(ROOT, 'test', 'unit', 'toolstack', 'config', 'fixtures');
