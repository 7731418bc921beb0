// Unit: the benchmarks' wait for an idle dom0 reads /proc/stat, stops at its limit when the idle share is never reached, and returns after one window when any share will do.
import t from 'tap';
import { untilQuiet } from '../../../bench/dom0/quiet.js';

t.test('any idle share will do: one window', async (t) => {
  const r = await untilQuiet({ windowMs: 20, idleShare: 0, maxMs: 1000 });
  t.equal(r.quiet, true);
  t.ok(r.waitedMs >= 15 && r.waitedMs < 500, `waited ${r.waitedMs.toFixed(0)} ms`);
});

t.test('never quiet enough: it gives up at its limit and says so', async (t) => {
  // A share above 1 no machine reaches, however idle.
  const r = await untilQuiet({ windowMs: 20, idleShare: 1.01, maxMs: 150 });
  t.equal(r.quiet, false);
  t.ok(r.waitedMs >= 150 && r.waitedMs < 1000, `waited ${r.waitedMs.toFixed(0)} ms`);
});
