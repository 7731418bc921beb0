// The noxs ABI has one copy: the patch series adds xen-patches/include/noxs.h to Xen unchanged, with a hypercall number Xen 4.17 leaves free.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../../lab/config.js';

const DIR = path.join(PROJECT_ROOT, 'xen-patches');
const HEADER = fs.readFileSync(path.join(DIR, 'include', 'noxs.h'), 'utf8');
const SERIES = fs.readdirSync(DIR).filter((f) => /^\d{4}-.+\.patch$/.test(f)).sort();

/** The content a patch gives a file it creates (new file mode, one hunk of added lines), or undefined. */
function addedFile(patch: string, file: string): string | undefined {
  const start = patch.indexOf(`diff --git a/${file} b/${file}\n`);
  if (start < 0) return undefined;
  const next = patch.indexOf('\ndiff --git ', start + 1);
  const section = patch.slice(start, next < 0 ? undefined : next);
  if (!/\nnew file mode /.test(section)) return undefined;
  const hunk = section.slice(section.indexOf('\n@@ ') + 1).split('\n').slice(1);
  const lines: string[] = [];
  for (const l of hunk) {
    if (l.startsWith('+')) lines.push(l.slice(1));
    else if (l === '-- ' || l === '') break; // format-patch's signature separator or the section's end
    else throw new Error(`unexpected line in the hunk that creates ${file}: ${JSON.stringify(l)}`);
  }
  return lines.join('\n') + '\n';
}

t.test('the series is numbered, each patch has a subject and a description', async (t) => {
  t.ok(SERIES.length >= 1, `${SERIES.length} patches`);
  SERIES.forEach((f, i) => {
    t.equal(f.slice(0, 4), String(i + 1).padStart(4, '0'), `${f} is number ${i + 1}`);
    const text = fs.readFileSync(path.join(DIR, f), 'utf8');
    const head = text.slice(0, text.indexOf('\n---\n'));
    t.match(head, /^Subject: \[PATCH \d+\/\d+\] \S/m, `${f} has a subject`);
    const body = head.slice(head.indexOf('\n\n') + 2).trim();
    t.ok(body.split('\n').length >= 3, `${f} explains itself (${body.split('\n').length} lines)`);
  });
});

t.test("exactly one patch adds xen/include/public/noxs.h, and it is xen-patches/include/noxs.h byte for byte", async (t) => {
  const adds = SERIES.map((f) => addedFile(fs.readFileSync(path.join(DIR, f), 'utf8'), 'xen/include/public/noxs.h')).filter((x) => x !== undefined);
  t.equal(adds.length, 1, 'one patch creates it');
  t.equal(adds[0], HEADER, 'the same text as the header native/ and guests/ include');
});

t.test("the hypercall number is one Xen 4.17's public xen.h does not use", async (t) => {
  const m = /^#define __HYPERVISOR_devctl\s+(\d+)\s*$/m.exec(HEADER);
  t.ok(m, 'noxs.h defines __HYPERVISOR_devctl');
  const n = Number(m![1]);
  t.equal(n, 43);
  const xenH = '/usr/include/xen/xen.h';
  if (!fs.existsSync(xenH)) { t.comment(`${xenH} is missing (libxen-dev): not compared with Xen's list`); return; }
  const used = [...fs.readFileSync(xenH, 'utf8').matchAll(/^#define (__HYPERVISOR_\w+)\s+(\d+)/gm)].map((x) => ({ name: x[1], n: Number(x[2]) }));
  t.ok(used.length > 40, `${used.length} numbers in ${xenH}`);
  t.same(used.filter((u) => u.n === n), [], `no __HYPERVISOR_* of Xen is ${n}`);
});
