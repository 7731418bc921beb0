// Unit tests of the validators' shared helpers: edit distance, key suggestions and how values are named.
import t from 'tap';
import { closest, describeValue, didYouMean, editDistance } from '../../../../toolstack/config/report.js';

t.test('edit distance counts insertions, deletions, substitutions and swaps of neighbours', async (tt) => {
  tt.equal(editDistance('memory', 'memory'), 0);
  tt.equal(editDistance('memroy', 'memory'), 1, 'a swap');
  tt.equal(editDistance('memor', 'memory'), 1, 'a deletion');
  tt.equal(editDistance('memoryy', 'memory'), 1, 'an insertion');
  tt.equal(editDistance('menory', 'memory'), 1, 'a substitution');
  tt.equal(editDistance('', 'abc'), 3);
  tt.equal(editDistance('abc', ''), 3);
  tt.equal(editDistance('kitten', 'sitting'), 3);
});

t.test('a suggestion only when the word is a likely typo', async (tt) => {
  const keys = ['name', 'memory', 'maxmem', 'vcpus', 'maxvcpus', 'on_crash', 'on_reboot'];
  tt.equal(closest('memroy', keys), 'memory');
  tt.equal(closest('Memory', keys), 'memory', 'case is ignored');
  tt.equal(closest('vcpu', keys), 'vcpus');
  tt.equal(closest('maxvcpu', keys), 'maxvcpus');
  tt.equal(closest('on_crahs', keys), 'on_crash');
  tt.equal(closest('nmae', keys), 'name');
  tt.equal(closest('flavour', keys), undefined, 'nothing close');
  tt.equal(closest('x', keys), undefined);
  tt.equal(closest('anything', []), undefined);
  tt.equal(didYouMean('memroy', keys), '; did you mean "memory"?');
  tt.equal(didYouMean('flavour', keys), '');
});

t.test('values are named as a sentence would', async (tt) => {
  tt.equal(describeValue('x'), 'the string "x"');
  tt.equal(describeValue('a"b'), 'the string "a\\"b"');
  tt.equal(describeValue(5), 'the number 5');
  tt.equal(describeValue(Number.NaN), 'NaN');
  tt.equal(describeValue(true), 'the boolean true');
  tt.equal(describeValue(null), 'null');
  tt.equal(describeValue([]), 'an empty list');
  tt.equal(describeValue([1]), 'a list');
  tt.equal(describeValue({}), 'an object');
  tt.equal(describeValue(undefined), 'nothing');
});
