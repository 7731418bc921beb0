// Unit: following a console ring nobody serves (noxs): output printed once, out_cons moved on, a lying producer index clamped, Ctrl-] leaves.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { followRing, readConsoleRing } from '../../../toolstack/console.js';
import type { XenNative } from '../../../toolstack/xen/types.js';

/** One console page (struct xencons_interface) and the calls made on it. */
function fakePage() {
  const page = Buffer.alloc(4096);
  const writes: { offset: number; value: number }[] = [];
  let gone = false;
  const xen = {
    foreignRead: async (_d: number, _m: number, offset: number, length: number) => {
      if (gone) throw Object.assign(new Error('xenforeignmemory_map: No such process'), { call: 'xenforeignmemory_map', errno: 3, code: 'ESRCH' });
      return Buffer.from(page.subarray(offset, offset + length));
    },
    foreignWrite: async (_d: number, _m: number, offset: number, data: Buffer) => { data.copy(page, offset); writes.push({ offset, value: data.readUInt32LE(0) }); },
  } as unknown as XenNative;
  const guestWrites = (text: string) => {
    let prod = page.readUInt32LE(3084);
    for (const ch of Buffer.from(text)) { page[1024 + (prod % 2048)] = ch; prod = (prod + 1) >>> 0; }
    page.writeUInt32LE(prod, 3084);
  };
  return { page, xen, writes, guestWrites, kill: () => { gone = true; } };
}

t.test('prints what the guest wrote, once, and consumes it; Ctrl-] leaves', async (t) => {
  const f = fakePage();
  const input = new PassThrough() as unknown as NodeJS.ReadStream;
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  f.guestWrites('hello\n');
  const p = followRing(f.xen, 5, 77, input, out, { intervalMs: 5 });
  await new Promise((r) => setTimeout(r, 40));
  f.guestWrites('LIGHTVM-READY noop\n');
  await new Promise((r) => setTimeout(r, 40));
  (input as unknown as PassThrough).write(Buffer.from([0x1d]));
  t.equal(await p, 'escape');
  t.equal(Buffer.concat(chunks).toString(), 'hello\nLIGHTVM-READY noop\n', 'each byte printed once');
  t.equal(f.page.readUInt32LE(3080), f.page.readUInt32LE(3084), 'out_cons caught up with out_prod');
  t.ok(f.writes.every((w) => w.offset === 3080), 'only out_cons is written');
});

t.test('a producer index far ahead of the consumer is clamped to the ring; a domain that goes away ends it', async (t) => {
  const f = fakePage();
  f.page.fill(0x41, 1024, 3072);
  f.page.writeUInt32LE(1_000_000, 3084);
  const input = new PassThrough() as unknown as NodeJS.ReadStream;
  const out = new PassThrough();
  let n = 0;
  out.on('data', (b: Buffer) => { n += b.length; });
  const p = followRing(f.xen, 5, 77, input, out, { intervalMs: 5 });
  await new Promise((r) => setTimeout(r, 30));
  f.kill();
  t.equal(await p, 'closed');
  t.equal(n, 2048, 'at most the ring size');
  t.equal(f.page.readUInt32LE(3080), 1_000_000);
  t.equal((await readConsoleRing(fakePage().xen, 1, 1)).length, 0, '--once of an empty ring prints nothing');
});
