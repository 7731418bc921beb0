// Unit: docs/errors.md and ERROR_CODES agree: every code has a section with exactly its sentence, and the page lists no other code.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ChaosError, ERROR_CODES, type ErrorCode } from '../../../toolstack/errors.js';

/** The source tree's root, found from this compiled file wherever it runs from. */
function root(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    if (path.dirname(dir) === dir) throw new Error('no package.json above the tests');
    dir = path.dirname(dir);
  }
  return dir;
}

interface Section { code: string; meaning: string | undefined; line: number }

/** Each "## CODE" heading of the page, with the first "> " line under it. */
function sections(text: string): Section[] {
  const out: Section[] = [];
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    const h = /^## (\S+)\s*$/.exec(l);
    if (h) {
      out.push({ code: h[1], meaning: undefined, line: i + 1 });
      return;
    }
    const cur = out.at(-1);
    if (cur && cur.meaning === undefined && l.trim() !== '') {
      const q = /^> (.*)$/.exec(l);
      cur.meaning = q ? q[1] : `(not a "> " line: ${l})`;
    }
  });
  return out;
}

const doc = fs.readFileSync(path.join(root(), 'docs', 'errors.md'), 'utf8');
const found = sections(doc);

t.test('every code in ERROR_CODES has a section in docs/errors.md with exactly its sentence', async (tt) => {
  for (const [code, meaning] of Object.entries(ERROR_CODES)) {
    const s = found.filter((x) => x.code === code);
    tt.equal(s.length, 1, `${code} has one section`);
    tt.equal(s[0]?.meaning, meaning, `${code}: the page gives the sentence of ERROR_CODES`);
  }
});

t.test('docs/errors.md lists no code that ERROR_CODES does not have', async (tt) => {
  for (const s of found) tt.ok(Object.hasOwn(ERROR_CODES, s.code), `${s.code} (docs/errors.md:${s.line}) is in ERROR_CODES`);
});

t.test('the sections come in the order of ERROR_CODES', async (tt) => {
  tt.same(found.map((s) => s.code), Object.keys(ERROR_CODES));
});

t.test('each section says when the error happens and what to do', async (tt) => {
  const parts = doc.split(/^## /m).slice(1);
  for (const part of parts) {
    const code = part.split('\n', 1)[0].trim();
    tt.match(part, /\*\*When:\*\*/, `${code}: when`);
    tt.match(part, /\*\*What to do:\*\*/, `${code}: what to do`);
  }
});

t.test('the check itself notices a disagreement', async (tt) => {
  const broken = sections('## CONFIG_SYNTAX\n\n> something else\n\n## NOT_A_CODE\n\n> x\n\n## INTERNAL\ntext first\n');
  tt.same(broken, [
    { code: 'CONFIG_SYNTAX', meaning: 'something else', line: 1 },
    { code: 'NOT_A_CODE', meaning: 'x', line: 5 },
    { code: 'INTERNAL', meaning: '(not a "> " line: text first)', line: 9 },
  ]);
});

t.test('ChaosError keeps its code, sentence, place and cause', async (tt) => {
  const cause = new Error('inner');
  const e = new ChaosError('CONFIG_SYNTAX', 'g.cfg:3: expected a value', { file: 'g.cfg', line: 3, column: 9, key: 'memory', cause });
  tt.match(e, { name: 'ChaosError', code: 'CONFIG_SYNTAX', message: 'g.cfg:3: expected a value', file: 'g.cfg', line: 3, column: 9, key: 'memory' });
  tt.equal(e.cause, cause);
  tt.ok(e instanceof Error);
  const code: ErrorCode = e.code;
  tt.ok(code in ERROR_CODES);
  tt.equal(new ChaosError('INTERNAL', 'x').cause, undefined, 'no cause unless given');
});
