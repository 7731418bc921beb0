// Unit tests of the JSON reader: values and key places, each syntax error with its line and column, and the same settings from an object already parsed.
import t from 'tap';
import { parseJsonSettings } from '../../../../toolstack/config/json-cfg.js';
import { parseJsonConfig, parseObjectConfig, settingsOfObject } from '../../../../toolstack/config/index.js';
import { caught, checkError } from './helpers.js';

const F = 'guest.json';

t.test('keys in file order with their line and column; values keep their JSON types', async (tt) => {
  const s = parseJsonSettings('{\n  "name": "a",\n  "memory": 64, "9": 1,\n  "vif": [\n    "",\n    "bridge=x"\n  ],\n  "x": {"y": [true, null, -1.5e2]}\n}', F);
  tt.same(s, [
    { key: 'name', value: 'a', line: 2, column: 3 },
    { key: 'memory', value: 64, line: 3, column: 3 },
    { key: '9', value: 1, line: 3, column: 17 },
    { key: 'vif', value: ['', 'bridge=x'], line: 4, column: 3, itemLines: [5, 6] },
    { key: 'x', value: { y: [true, null, -150] }, line: 8, column: 3 },
  ]);
});

t.test('strings with every JSON escape; an empty object; white space', async (tt) => {
  const [s] = parseJsonSettings('{"a": "q\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9\\u2713"}', F);
  tt.equal(s.value, 'q" b\\ s/ \b\f\n\r\t é✓');
  tt.same(parseJsonSettings(' \n{ }\n ', F), []);
  tt.same(parseJsonSettings('\ufeff{"a": 1}', F).map((x) => [x.key, x.column]), [['a', 2]], 'a byte-order mark is skipped');
});

t.test('a key named __proto__ is an ordinary (unknown) key', async (tt) => {
  const s = parseJsonSettings('{"__proto__": {"polluted": 1}}', F);
  tt.same(s.map((x) => x.key), ['__proto__']);
  tt.equal(({} as Record<string, unknown>).polluted, undefined);
});

const BAD: Array<[string, string, { line: number; column: number; key?: string; says: RegExp }]> = [
  ['an empty file', '', { line: 1, column: 1, says: /^the file is empty: a JSON configuration is one object/ }],
  ['an array', '["name"]', { line: 1, column: 1, says: /^a JSON configuration is one object, \{"name": \.\.\., \.\.\.\}: expected "\{"$/ }],
  ['a trailing comma', '{"a": 1,\n}', { line: 2, column: 1, says: /^a comma before "\}" is not allowed in JSON$/ }],
  ['a trailing comma in an array', '{"a": [1,]}', { line: 1, column: 10, says: /^a comma before "\]" is not allowed in JSON$/ }],
  ['a missing colon', '{"a" 1}', { line: 1, column: 6, says: /^expected ":" after the key "a", found "1"$/ }],
  ['a missing comma', '{"a": 1\n "b": 2}', { line: 2, column: 2, says: /^expected "," or "\}" after the value of "a", found "\\""$/ }],
  ['a missing value', '{"a": }', { line: 1, column: 7, says: /^expected a JSON value .*, found "\}"$/ }],
  ['a single-quoted key', "{'a': 1}", { line: 1, column: 2, says: /^expected a "key" in double quotes, found "'"$/ }],
  ['an unquoted key', '{a: 1}', { line: 1, column: 2, says: /^expected a "key" in double quotes/ }],
  ['an unclosed object', '{"a": 1', { line: 1, column: 8, says: /found the end of the file$/ }],
  ['an unclosed array', '{"a": [1, 2', { line: 1, column: 12, says: /^expected "," or "\]" in an array, found the end of the file$/ }],
  ['an unclosed string', '{"a": "x}', { line: 1, column: 7, says: /^the string is not closed: expected a closing "$/ }],
  ['a line break in a string', '{"a": "x\ny"}', { line: 1, column: 9, says: /^a control character \(such as a line break\) inside a string must be escaped/ }],
  ['a bad escape', '{"a": "\\x41"}', { line: 1, column: 8, says: /^a backslash in a string must start/ }],
  ['a short \\u escape', '{"a": "\\u12"}', { line: 1, column: 8, says: /^a backslash in a string must start/ }],
  ['a comment', '{"a": 1 // one\n}', { line: 1, column: 9, says: /^expected "," or "\}" after the value of "a", found "\/"$/ }],
  ['a leading plus', '{"a": +1}', { line: 1, column: 7, says: /^expected a JSON value/ }],
  ['a bare minus', '{"a": -}', { line: 1, column: 7, says: /^expected a number, found "-"$/ }],
  ['hex', '{"a": 0x10}', { line: 1, column: 8, says: /^expected "," or "\}" after the value of "a", found "x"$/ }],
  ['NaN', '{"a": NaN}', { line: 1, column: 7, says: /^expected a JSON value/ }],
  ['text after the object', '{"a": 1} x', { line: 1, column: 10, says: /^unexpected text after the end of the configuration object$/ }],
  ['two objects', '{"a": 1}\n{"b": 2}', { line: 2, column: 1, says: /^unexpected text after the end/ }],
  ['a key given twice', '{\n"memory": 1,\n"vcpus": 1,\n"memory": 2}', { line: 4, column: 1, key: 'memory', says: /^"memory" is set twice, on line 2 and on line 4: keep one of them$/ }],
  ['a key given twice in a nested object', '{"x": {"a": 1, "a": 2}}', { line: 1, column: 16, key: 'a', says: /^"a" is set twice/ }],
];

for (const [what, text, want] of BAD) {
  t.test(`JSON syntax error: ${what}`, async (tt) => {
    checkError(tt, caught(() => parseJsonSettings(text, F)), { code: 'CONFIG_SYNTAX', file: F, ...want }, what);
  });
}

t.test('settingsOfObject gives what parseJsonSettings gives for the object printed one key per line', async (t) => {
  const cases: Record<string, unknown>[] = [
    { name: 'a', memory: 4, kernel: '/k' },
    { name: 'a', vif: ['bridge=x', 'mac=00:16:3e:00:00:01'], memory: 4, cpus: [[0, 1], '2-3', { a: [1, 2] }], disk: [], extra: { x: { y: [1, [2, 3]] } }, on_crash: null, n: true },
    { 10: 1, name: 'b', vif: [['nested', ['deep']], 'x'] },
    {},
  ];
  for (const c of cases) t.same(settingsOfObject(c), parseJsonSettings(JSON.stringify(c, null, 1), 'request'), JSON.stringify(c));
  // And so validation's errors cite the same lines either way.
  const bad = { name: 'x', kernel: '/k', vif: ['bridge=br0', 'frob=1'], memory: 4 };
  t.throws(() => parseObjectConfig(bad, 'request config'), { code: 'CONFIG_UNKNOWN_KEY', message: /^request config:6: vif\[1\] "frob=1"/ });
  t.throws(() => parseJsonConfig(JSON.stringify(bad, null, 1), 'request config'), { code: 'CONFIG_UNKNOWN_KEY', message: /^request config:6: vif\[1\] "frob=1"/ });
});
