// Reads xl.cfg(5) syntax (KEY = VALUE settings of numbers, quoted strings and lists) into an ordered list of settings.
import { ChaosError } from '../errors.js';

/** A value as xl.cfg(5) writes it; the spec lets lists nest, though no key lightvm knows takes a nested list. */
export type XlValue = string | number | XlValue[];

/** One `KEY = VALUE` of a file, with where its key starts (1-based). */
export interface XlSetting {
  key: string;
  value: XlValue;
  line: number;
  column: number;
  /** For a list: the line each element starts on, so that errors about one element can point at it. */
  itemLines?: number[];
  /**
   * Set when the setting came from a command-line override rather than the file: the override's text.
   * Errors then name the override instead of a line of the file.
   */
  origin?: string;
}

export interface XlParseOptions {
  /**
   * The text is a command-line override rather than a file: errors name the override instead of
   * file:line (and carry only the column), and the settings get it as their origin.
   */
  origin?: string;
}

/** 'other' is a character that starts no token; the parser reports it as what it found instead of what it expected. */
type TokenKind = 'key' | 'number' | 'string' | '=' | '[' | ']' | ',' | ';' | 'newline' | 'end' | 'other';

interface Token {
  kind: TokenKind;
  /** The key's name, the string's contents or the number's value. */
  value?: string | number;
  /** The token as written, for error messages. */
  text: string;
  line: number;
  column: number;
}

/** Keys as xl's own reader accepts them; anything else fails there too, so it fails here with a reason. */
const KEY_RE = /^[a-z][a-z0-9_.]*$/;

/** The escapes xl reads correctly. Its reader also claims \x and octal escapes but mis-reads them, so they are refused here. */
const ESCAPES: Record<string, string> = {
  '\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v',
};

const VALUE_HINT = 'a number, a "string" or a [list]';

/** Shows a token in a message: the way it was written, in quotes that it does not contain, or a name for the invisible ones. */
function shown(tok: Token, override: boolean): string {
  if (tok.kind === 'newline') return 'the end of the line';
  if (tok.kind === 'end') return override ? 'the end of the override' : 'the end of the file';
  return tok.text.includes('"') ? `'${tok.text}'` : `"${tok.text}"`;
}

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly text: string, private readonly fail: (line: number, column: number, reason: string) => never) {
    // A byte-order mark is an editor's artefact, not part of the first key.
    if (text.charCodeAt(0) === 0xfeff) this.pos = this.lineStart = 1;
  }

  private column(at = this.pos): number {
    return at - this.lineStart + 1;
  }

  next(): Token {
    const { text } = this;
    for (;;) {
      const c = text[this.pos];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') { this.pos++; continue; }
      if (c === '#') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
        continue;
      }
      break;
    }
    const line = this.line;
    const column = this.column();
    const start = this.pos;
    if (this.pos >= text.length) return { kind: 'end', text: '', line, column };
    const c = text[this.pos];
    if (c === '\n') {
      this.pos++;
      this.line++;
      this.lineStart = this.pos;
      return { kind: 'newline', text: '\n', line, column };
    }
    if (c === '=' || c === '[' || c === ']' || c === ',' || c === ';') {
      this.pos++;
      return { kind: c, text: c, line, column };
    }
    if (c === '"' || c === "'") return this.string(c, line, column);
    if (/[0-9]/.test(c) || (/[+\-.]/.test(c) && /[0-9]/.test(text[this.pos + 1] ?? ''))) return this.number(line, column);
    if (/[A-Za-z_]/.test(c)) {
      // Read hyphens too, so that "on-crash" is reported as one bad key rather than as "on" then garbage.
      while (this.pos < text.length && /[A-Za-z0-9_.\-]/.test(text[this.pos])) this.pos++;
      const word = text.slice(start, this.pos);
      return { kind: 'key', value: word, text: word, line, column };
    }
    // "+=" is read whole so that the parser can say it is not supported rather than report a lone "+".
    const ch = text.startsWith('+=', this.pos) ? '+=' : String.fromCodePoint(text.codePointAt(this.pos)!);
    this.pos += ch.length;
    return { kind: 'other', text: ch, line, column };
  }

  private string(quote: string, line: number, column: number): Token {
    const { text } = this;
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= text.length || text[this.pos] === '\n') {
        this.fail(line, column, `the string that starts at column ${column} is not closed: expected a closing ${quote} before the end of the line`);
      }
      const c = text[this.pos];
      if (c === quote) {
        this.pos++;
        return { kind: 'string', value: out, text: text.slice(start, this.pos), line, column };
      }
      if (c === '\\') {
        const e = text[this.pos + 1];
        if (e !== undefined && e !== '\n' && Object.hasOwn(ESCAPES, e)) {
          out += ESCAPES[e];
          this.pos += 2;
          continue;
        }
        const escCol = this.column();
        if (e === 'x' || (e !== undefined && /[0-7]/.test(e))) {
          this.fail(line, escCol, `the escape "\\${e}" at column ${escCol} is not supported (xl mis-reads hexadecimal and octal escapes): write the character itself`);
        }
        const what = e === undefined || e === '\n' ? 'a backslash at the end of the line' : `the escape "\\${e}"`;
        this.fail(line, escCol, `${what} at column ${escCol} is not one xl knows: use \\\\, \\", \\', \\n, \\t, \\r, \\a, \\b, \\f or \\v`);
      }
      out += c;
      this.pos++;
    }
  }

  private number(line: number, column: number): Token {
    const { text } = this;
    const start = this.pos;
    while (this.pos < text.length && /[0-9A-Za-z_.+\-]/.test(text[this.pos])) this.pos++;
    const word = text.slice(start, this.pos);
    let value: number;
    if (/^0x[0-9a-fA-F]+$/.test(word)) value = Number.parseInt(word.slice(2), 16);
    else if (/^0[0-7]+$/.test(word)) value = Number.parseInt(word.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(word)) value = Number.parseInt(word, 10);
    else if (/^0[0-9]+$/.test(word)) {
      return this.fail(line, column, `${word} is not a number: a leading 0 makes it octal, which has only the digits 0 to 7`);
    } else {
      return this.fail(line, column, `${word} is not a number xl accepts: numbers are whole and not negative, written in decimal, in octal with a leading 0 or in hexadecimal with a leading 0x`);
    }
    if (!Number.isSafeInteger(value)) {
      return this.fail(line, column, `${word} is too large a number (the largest is ${Number.MAX_SAFE_INTEGER})`);
    }
    return { kind: 'number', value, text: word, line, column };
  }
}

/**
 * Parses the text of an xl configuration file. Throws ChaosError CONFIG_SYNTAX naming the file and
 * line, and what was expected there, at the first error. A key given twice is an error (xl would
 * silently keep the last one, which hides mistakes).
 */
export function parseXl(text: string, file: string, opts: XlParseOptions = {}): XlSetting[] {
  const { origin } = opts;
  // The key whose value is being read, so that errors found by the lexer inside a value name it too.
  let current: string | undefined;
  const fail = (line: number, column: number, reason: string, key = current): never => {
    if (origin !== undefined) throw new ChaosError('CONFIG_SYNTAX', `override ${JSON.stringify(origin)}: ${reason}`, { column, key });
    throw new ChaosError('CONFIG_SYNTAX', `${file}:${line}: ${reason}`, { file, line, column, key });
  };
  const lexer = new Lexer(text, fail);
  let tok = lexer.next();
  const advance = () => { tok = lexer.next(); };
  // Read through a function: TypeScript would otherwise keep a narrowed kind across advance().
  const kind = (): TokenKind => tok.kind;

  const settings: XlSetting[] = [];
  const seen = new Map<string, XlSetting>();

  /** A number or string token as a value; anything else is reported as what `after` should have been followed by. */
  const scalar = (after: string, key: string): string | number => {
    if (kind() === 'number' || kind() === 'string') {
      const v = tok.value!;
      advance();
      return v;
    }
    if (kind() === 'key') {
      return fail(tok.line, tok.column, `expected ${after} (${VALUE_HINT}), found the bare word ${tok.text}: strings must be quoted, as in "${tok.text}"`, key);
    }
    return fail(tok.line, tok.column, `expected ${after} (${VALUE_HINT}), found ${shown(tok, origin !== undefined)}`, key);
  };

  const skipNewlines = () => { while (kind() === 'newline') advance(); };

  /** Reads `[ v, v, ... ]` with tok on the "["; newlines and comments may sit anywhere inside, and a trailing comma is allowed. */
  const list = (key: string, itemLines: number[] | undefined): XlValue[] => {
    const open = tok;
    advance();
    const items: XlValue[] = [];
    const unclosed = (): never =>
      fail(open.line, open.column, `the list for "${key}" opened on line ${open.line} is not closed: expected "]" before the end of the file`, key);
    skipNewlines();
    while (kind() !== ']') {
      if (kind() === 'end') unclosed();
      itemLines?.push(tok.line);
      if (kind() === '[') items.push(list(key, undefined));
      else items.push(scalar(items.length === 0 ? `a list element or "]" after "["` : 'a list element after ","', key));
      skipNewlines();
      if (kind() === ',') {
        advance();
        skipNewlines();
        continue;
      }
      if (kind() === ']') break;
      if (kind() === 'end') unclosed();
      fail(tok.line, tok.column, `expected "," or "]" after an element of the list for "${key}", found ${shown(tok, origin !== undefined)}`, key);
    }
    advance();
    return items;
  };

  for (;;) {
    while (kind() === 'newline' || kind() === ';') advance();
    if (kind() === 'end') break;
    if (kind() !== 'key') {
      fail(tok.line, tok.column, `expected a key at the start of a setting (a lower-case name such as memory), found ${shown(tok, origin !== undefined)}`);
    }
    const keyTok = tok;
    const key = keyTok.text;
    current = key;
    if (!KEY_RE.test(key)) {
      fail(keyTok.line, keyTok.column, `"${key}" is not a valid key: keys are lower-case letters, digits, "_" and ".", starting with a letter`, key);
    }
    advance();
    if (tok.text === '+=') {
      fail(tok.line, tok.column, `"+=" (adding to a setting) is not part of xl.cfg(5) and lightvm does not support it: write ${key} = VALUE`, key);
    }
    if (kind() !== '=') {
      fail(tok.line, tok.column, `expected "=" after the key "${key}", found ${shown(tok, origin !== undefined)}`, key);
    }
    advance();
    let value: XlValue;
    let itemLines: number[] | undefined;
    if (kind() === '[') {
      itemLines = [];
      value = list(key, itemLines);
    } else {
      value = scalar('a value after "="', key);
    }
    if (kind() !== 'newline' && kind() !== ';' && kind() !== 'end') {
      fail(tok.line, tok.column, `unexpected ${shown(tok, origin !== undefined)} after the value of "${key}": put one setting per line or separate settings with ";"`, key);
    }
    const setting: XlSetting = { key, value, line: keyTok.line, column: keyTok.column };
    if (itemLines !== undefined) setting.itemLines = itemLines;
    if (origin !== undefined) setting.origin = origin;
    const earlier = seen.get(key);
    if (earlier) {
      const twice = origin !== undefined ? 'twice' : `twice, on line ${earlier.line} and on line ${keyTok.line}`;
      fail(keyTok.line, keyTok.column, `"${key}" is set ${twice}: keep one of them`, key);
    }
    seen.set(key, setting);
    settings.push(setting);
    current = undefined;
  }
  return settings;
}
