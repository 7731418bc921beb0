// Unit tests of the xl.cfg(5) reader: every syntax element, and every kind of syntax error with its place and sentence.
import t from 'tap';
import { parseXl } from '../../../../toolstack/config/xl-cfg.js';
import { caught, checkError } from './helpers.js';

const F = 'guest.cfg';

t.test('KEY = VALUE settings, in order, with where each key starts', async (tt) => {
  const s = parseXl('name = "web1"\nmemory=128\n  vcpus   =   2  \n', F);
  tt.same(s, [
    { key: 'name', value: 'web1', line: 1, column: 1 },
    { key: 'memory', value: 128, line: 2, column: 1 },
    { key: 'vcpus', value: 2, line: 3, column: 3 },
  ]);
});

t.test('settings separated by ";" as well as by lines, with stray and trailing ";"', async (tt) => {
  const s = parseXl(';name="h0"; type="pv";;\nmemory=64;', F);
  tt.same(s.map((x) => [x.key, x.value, x.line, x.column]), [['name', 'h0', 1, 2], ['type', 'pv', 1, 13], ['memory', 64, 2, 1]]);
});

t.test('comments and blank lines are skipped; "#" inside a string is text', async (tt) => {
  const s = parseXl('# a guest\n\n   \nname = "a#b" # the name\n#memory = 5\n\t\nkernel = \'/k#1\'# no space before\n', F);
  tt.same(s.map((x) => [x.key, x.value, x.line]), [['name', 'a#b', 4], ['kernel', '/k#1', 7]]);
});

t.test('an empty text, or only comments, has no settings', async (tt) => {
  tt.same(parseXl('', F), []);
  tt.same(parseXl('# nothing\n\n;\n', F), []);
});

t.test('strings in double or single quotes, with the escapes xl reads', async (tt) => {
  const s = parseXl([
    'a = "double"', "b = 'single'", 'c = ""', "d = 'say \"hi\"'", 'e = "it\'s"',
    'f = "q\\"q"', "g = 'q\\'q'", 'h = "back\\\\slash"', 'i = "\\n\\t\\r\\a\\b\\f\\v"', 'j = "été ✓"',
  ].join('\n'), F);
  tt.same(s.map((x) => x.value), ['double', 'single', '', 'say "hi"', "it's", 'q"q', "q'q", 'back\\slash', '\n\t\r\x07\b\f\v', 'été ✓']);
});

t.test('numbers in decimal, octal (leading 0) and hexadecimal (0x), as xl.cfg(5) says', async (tt) => {
  const s = parseXl('a = 0\nb = 128\nc = 010\nd = 0x40\ne = 0xfF\nf = 00\ng = 9007199254740991\n', F);
  tt.same(s.map((x) => x.value), [0, 128, 8, 64, 255, 0, Number.MAX_SAFE_INTEGER]);
});

t.test('booleans are numbers: 0 and 1 come back as numbers', async (tt) => {
  tt.same(parseXl('a = 0\nb = 1', F).map((x) => x.value), [0, 1]);
});

t.test('lists: one line or many, trailing comma, comments inside, empty, mixed and nested', async (tt) => {
  const s = parseXl([
    'vif = [ "mac=00:16:3e:00:00:01", \'\' ]',
    'disk = [',
    '  "/a,,xvda",   # the root disk',
    '',
    '  "/b,,xvdb",',
    ']',
    'e = []',
    'f = [\n]',
    'g = [1, "two", 0x3]',
    'h = [["pnode=0"], ["pnode=1"],]',
    'i = [ 1 ,2 ]',
  ].join('\n'), F);
  tt.same(s.map((x) => x.value), [
    ['mac=00:16:3e:00:00:01', ''], ['/a,,xvda', '/b,,xvdb'], [], [], [1, 'two', 3], [['pnode=0'], ['pnode=1']], [1, 2],
  ]);
  tt.same(s[1].itemLines, [3, 5], 'each element of a multi-line list keeps its line');
  tt.equal(s[1].line, 2, 'the setting is where its key is');
  tt.same(s[2].itemLines, [], 'an empty list has no element lines');
  tt.equal(s[0].itemLines?.length, 2);
});

t.test('scalars carry no itemLines and no origin', async (tt) => {
  const [s] = parseXl('memory = 1', F);
  tt.notOk('itemLines' in s);
  tt.notOk('origin' in s);
});

t.test('CRLF line ends and a byte-order mark are accepted', async (tt) => {
  const s = parseXl('\ufeffname = "a"\r\nmemory = 2\r\n', F);
  tt.same(s.map((x) => [x.key, x.value, x.line, x.column]), [['name', 'a', 1, 1], ['memory', 2, 2, 1]]);
});

t.test('keys: lower case letters, digits, "_" and "."', async (tt) => {
  tt.same(parseXl('on_crash = "destroy"\na.b9 = 1', F).map((x) => x.key), ['on_crash', 'a.b9']);
});

t.test('with an origin (an override), settings carry it', async (tt) => {
  const s = parseXl('memory=64; name="x"', '', { origin: 'memory=64; name="x"' });
  tt.same(s.map((x) => x.origin), ['memory=64; name="x"', 'memory=64; name="x"']);
});

/** Each syntax error: the text, then where and what the error must say. */
const BAD: Array<[string, string, { line: number; column: number; key?: string; says: RegExp }]> = [
  ['unterminated double-quoted string', 'name = "web1\nmemory = 1', { line: 1, column: 8, key: 'name', says: /^the string that starts at column 8 is not closed: expected a closing " before the end of the line$/ }],
  ['unterminated single-quoted string at the end', "kernel = '/boot", { line: 1, column: 10, key: 'kernel', says: /expected a closing ' before the end of the line/ }],
  ['missing "="', 'memory\n', { line: 1, column: 7, key: 'memory', says: /^expected "=" after the key "memory", found the end of the line$/ }],
  ['missing "=" before a value', 'name "web1"', { line: 1, column: 6, key: 'name', says: /^expected "=" after the key "name", found '"web1"'$/ }],
  ['"+=" (not in xl.cfg(5))', 'extra += "x"', { line: 1, column: 7, key: 'extra', says: /^"\+=" \(adding to a setting\) is not part of xl\.cfg\(5\) and lightvm does not support it: write extra = VALUE$/ }],
  ['missing value at the end of a line', 'memory =\nvcpus = 1', { line: 1, column: 9, key: 'memory', says: /^expected a value after "=" \(a number, a "string" or a \[list\]\), found the end of the line$/ }],
  ['missing value at the end of the file', 'memory =', { line: 1, column: 9, key: 'memory', says: /found the end of the file$/ }],
  ['missing value before ";"', 'memory = ; vcpus = 1', { line: 1, column: 10, key: 'memory', says: /^expected a value after "=".*found ";"$/ }],
  ['unquoted word', 'name = web1', { line: 1, column: 8, key: 'name', says: /found the bare word web1: strings must be quoted, as in "web1"$/ }],
  ['unclosed list', 'disk = [ "/a,,xvda",\n  "/b,,xvdb"\n', { line: 1, column: 8, key: 'disk', says: /^the list for "disk" opened on line 1 is not closed: expected "\]" before the end of the file$/ }],
  ['unclosed empty list', 'vif = [', { line: 1, column: 7, key: 'vif', says: /opened on line 1 is not closed/ }],
  ['list elements without a comma', 'vif = [ "a"\n "b" ]', { line: 2, column: 2, key: 'vif', says: /^expected "," or "\]" after an element of the list for "vif", found '"b"'$/ }],
  ['two commas in a list', 'vif = [ "a",, "b" ]', { line: 1, column: 13, key: 'vif', says: /^expected a list element after ",".*found ","$/ }],
  ['a list that starts with a comma', 'vif = [ , "a" ]', { line: 1, column: 9, key: 'vif', says: /^expected a list element or "\]" after "\["/ }],
  ['garbage after a number', 'memory = 128 MiB', { line: 1, column: 14, key: 'memory', says: /^unexpected "MiB" after the value of "memory": put one setting per line or separate settings with ";"$/ }],
  ['two settings on a line without ";"', 'a = 1 b = 2', { line: 1, column: 7, key: 'a', says: /^unexpected "b" after the value of "a"/ }],
  ['garbage after a string', 'name = "a" "b"', { line: 1, column: 12, key: 'name', says: /^unexpected '"b"' after the value of "name"/ }],
  ['garbage after a list', 'vif = [] ]', { line: 1, column: 10, key: 'vif', says: /^unexpected "\]" after the value of "vif"/ }],
  ['a key given twice', 'name = "a"\nmemory = 1\nname = "b"', { line: 3, column: 1, key: 'name', says: /^"name" is set twice, on line 1 and on line 3: keep one of them$/ }],
  ['a negative number', 'memory = -5', { line: 1, column: 10, key: 'memory', says: /^-5 is not a number xl accepts: numbers are whole and not negative/ }],
  ['a fractional number', 'memory = 1.5', { line: 1, column: 10, key: 'memory', says: /^1\.5 is not a number xl accepts/ }],
  ['a number with an exponent', 'memory = 1e3', { line: 1, column: 10, key: 'memory', says: /^1e3 is not a number xl accepts/ }],
  ['an octal number with 8 or 9', 'memory = 019', { line: 1, column: 10, key: 'memory', says: /^019 is not a number: a leading 0 makes it octal, which has only the digits 0 to 7$/ }],
  ['hex without digits', 'memory = 0x', { line: 1, column: 10, key: 'memory', says: /^0x is not a number xl accepts/ }],
  ['upper-case hex prefix', 'memory = 0X10', { line: 1, column: 10, key: 'memory', says: /^0X10 is not a number xl accepts/ }],
  ['a number too large to hold exactly', 'memory = 0x20000000000000', { line: 1, column: 10, key: 'memory', says: /^0x20000000000000 is too large a number \(the largest is 9007199254740991\)$/ }],
  ['a hex escape', 'name = "a\\x41"', { line: 1, column: 10, key: 'name', says: /^the escape "\\x" at column 10 is not supported \(xl mis-reads hexadecimal and octal escapes\)/ }],
  ['an octal escape', 'name = "\\101"', { line: 1, column: 9, key: 'name', says: /^the escape "\\1" at column 9 is not supported/ }],
  ['an unknown escape', 'name = "a\\qb"', { line: 1, column: 10, key: 'name', says: /^the escape "\\q" at column 10 is not one xl knows: use/ }],
  ['a backslash at the end of the line', 'name = "a\\\n"', { line: 1, column: 10, key: 'name', says: /^a backslash at the end of the line at column 10 is not one xl knows/ }],
  ['an upper-case key', 'Memory = 1', { line: 1, column: 1, key: 'Memory', says: /^"Memory" is not a valid key: keys are lower-case letters, digits, "_" and "\.", starting with a letter$/ }],
  ['a key with a hyphen', 'on-crash = "destroy"', { line: 1, column: 1, key: 'on-crash', says: /^"on-crash" is not a valid key/ }],
  ['a key starting with "_"', '_x = 1', { line: 1, column: 1, key: '_x', says: /^"_x" is not a valid key/ }],
  ['a setting that starts with "="', '\n= 5', { line: 2, column: 1, says: /^expected a key at the start of a setting \(a lower-case name such as memory\), found "="$/ }],
  ['a setting that starts with a string', '"name" = 1', { line: 1, column: 1, says: /^expected a key at the start of a setting.*found '"name"'$/ }],
  ['a setting that starts with a number', '5 = 1', { line: 1, column: 1, says: /^expected a key at the start of a setting.*found "5"$/ }],
  ['a stray character', 'memory = 1\n@x', { line: 2, column: 1, says: /^expected a key at the start of a setting.*found "@"$/ }],
  ['a stray character after a value', 'memory = 1 !', { line: 1, column: 12, key: 'memory', says: /^unexpected "!" after the value of "memory"/ }],
  ['a lone sign', 'memory = -', { line: 1, column: 10, key: 'memory', says: /^expected a value after "=".*found "-"$/ }],
  ['a stray character in a value', 'memory = {1}', { line: 1, column: 10, key: 'memory', says: /^expected a value after "=".*found "\{"$/ }],
];

for (const [what, text, want] of BAD) {
  t.test(`syntax error: ${what}`, async (tt) => {
    checkError(tt, caught(() => parseXl(text, F)), { code: 'CONFIG_SYNTAX', file: F, ...want }, what);
  });
}

t.test('an error in an override names the override, not a file, and keeps the column', async (tt) => {
  const err = caught(() => parseXl('memory=', '', { origin: 'memory=' }));
  checkError(tt, err, { code: 'CONFIG_SYNTAX', line: undefined, column: 8, key: 'memory', says: /^expected a value after "=".*found the end of the override$/ }, 'override');
  tt.match((err as Error).message, /^override "memory=": /);
  const twice = caught(() => parseXl('memory=1; memory=2', '', { origin: 'memory=1; memory=2' }));
  checkError(tt, twice, { code: 'CONFIG_SYNTAX', key: 'memory', says: /^"memory" is set twice: keep one of them$/ }, 'a key twice in one override');
});

t.test('errors are reported at the first problem, in file order', async (tt) => {
  const err = caught(() => parseXl('a = 1\nb = \nc = "x', F));
  checkError(tt, err, { code: 'CONFIG_SYNTAX', file: F, line: 2, key: 'b', says: /expected a value/ }, 'first error');
});
