// Reads a JSON configuration (one object of xl keys) into settings, keeping each key's line so errors can point at it.
import { ChaosError } from '../errors.js';
import type { InputSetting } from './domain-config.js';

/**
 * A small strict JSON (RFC 8259) reader. JSON.parse is not used because it reports neither where a
 * key is nor that a key is repeated, and its error messages give a position only sometimes.
 */
class JsonReader {
  pos = 0;

  constructor(private readonly text: string, private readonly file: string) {}

  /** Line and column (1-based) of an offset. */
  place(at: number): { line: number; column: number } {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at; i++) {
      if (this.text[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
    }
    return { line, column: at - lineStart + 1 };
  }

  fail(reason: string, at = this.pos, key?: string): never {
    const { line, column } = this.place(at);
    throw new ChaosError('CONFIG_SYNTAX', `${this.file}:${line}: ${reason}`, { file: this.file, line, column, key });
  }

  private found(): string {
    if (this.pos >= this.text.length) return 'the end of the file';
    return JSON.stringify(String.fromCodePoint(this.text.codePointAt(this.pos)!));
  }

  space(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  expect(ch: string, what: string): void {
    this.space();
    if (this.text[this.pos] !== ch) this.fail(`expected ${what}, found ${this.found()}`);
    this.pos++;
  }

  value(): unknown {
    this.space();
    const c = this.text[this.pos];
    if (c === '{') return this.object(undefined);
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail(`expected a JSON value (a number, a "string", [an array], {an object}, true, false or null), found ${this.found()}`);
  }

  /**
   * Reads an object. When `keys` is given (for the top level), records there each key's offset and,
   * for array values, each element's offset.
   */
  object(keys: Map<string, { at: number; items?: number[] }> | undefined): Record<string, unknown> {
    this.pos++;
    const out: Record<string, unknown> = {};
    const seen = new Map<string, number>();
    this.space();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.pos] !== '"') this.fail(`expected a "key" in double quotes, found ${this.found()}`);
      const at = this.pos;
      const key = this.string();
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        this.fail(`"${key}" is set twice, on line ${this.place(earlier).line} and on line ${this.place(at).line}: keep one of them`, at, key);
      }
      seen.set(key, at);
      this.expect(':', `":" after the key "${key}"`);
      this.space();
      let value: unknown;
      if (keys !== undefined && this.text[this.pos] === '[') {
        const items: number[] = [];
        value = this.array(items);
        keys.set(key, { at, items });
      } else {
        value = this.value();
        keys?.set(key, { at });
      }
      // defineProperty, so that a key named __proto__ is data and not the prototype.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      this.space();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.space();
        if (this.text[this.pos] === '}') this.fail('a comma before "}" is not allowed in JSON');
        continue;
      }
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      this.fail(`expected "," or "}" after the value of "${key}", found ${this.found()}`);
    }
  }

  /** Reads an array; `items`, when given, gets the offset of each element. */
  array(items?: number[]): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    this.space();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      items?.push(this.pos);
      out.push(this.value());
      this.space();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.space();
        if (this.text[this.pos] === ']') this.fail('a comma before "]" is not allowed in JSON');
        continue;
      }
      if (this.text[this.pos] === ']') {
        this.pos++;
        return out;
      }
      this.fail(`expected "," or "]" in an array, found ${this.found()}`);
    }
  }

  string(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('the string is not closed: expected a closing "', start);
      const c = this.text[this.pos];
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (c < ' ') this.fail('a control character (such as a line break) inside a string must be escaped, e.g. \\n');
      if (c === '\\') {
        const e = this.text[this.pos + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && Object.hasOwn(simple, e)) {
          out += simple[e];
          this.pos += 2;
          continue;
        }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(Number.parseInt(this.text.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
          continue;
        }
        this.fail('a backslash in a string must start \\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX');
      }
      out += c;
      this.pos++;
    }
  }

  number(): number {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos));
    if (!m) this.fail(`expected a number, found ${this.found()}`);
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

/**
 * Parses a JSON configuration: one object whose keys are xl keys. Values keep their JSON types;
 * validation says which types each key takes. Syntax errors, a key given twice and a text that is not
 * one object throw CONFIG_SYNTAX with file, line and column.
 */
export function parseJsonSettings(text: string, file: string): InputSetting[] {
  // A byte-order mark is an editor's artefact, and editors do not count it as a column.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const r = new JsonReader(body, file);
  r.space();
  if (body[r.pos] !== '{') {
    r.fail(r.pos >= body.length ? 'the file is empty: a JSON configuration is one object, {"name": ..., ...}' : 'a JSON configuration is one object, {"name": ..., ...}: expected "{"');
  }
  const offsets = new Map<string, { at: number; items?: number[] }>();
  const obj = r.object(offsets);
  r.space();
  if (r.pos < body.length) r.fail('unexpected text after the end of the configuration object');
  // The map keeps the file's order; Object.keys would put keys that look like numbers first.
  return [...offsets].map(([key, { at, items }]) => {
    const { line, column } = r.place(at);
    const setting: InputSetting = { key, value: obj[key], line, column };
    if (items !== undefined) setting.itemLines = items.map((i) => r.place(i).line);
    return setting;
  });
}
