// Unit: chaosd's name index reads a domain's name once, again after a watch event or a reused id, and everything each time without a watch.
import t from 'tap';
import { NameIndex, type NameSource } from '../../../daemon/names.js';
import type { DomainIdList, DomainListChanges } from '../../../toolstack/xen/types.js';
import type { Log } from '../../../toolstack/log.js';

const log = { warn() {}, info() {}, debug() {}, error() {}, child() { return log; } } as unknown as Log;

class Source implements NameSource {
  doms = new Map<number, { handle: string; name?: string }>();
  reads: number[] = [];
  fullScans = 0;
  onChange: ((domid?: number) => void) | undefined;
  /** Runs during a names read (to fire an event while one is under way). */
  duringRead: (() => void) | undefined;
  watch = true;
  lists = 0;
  /** The list is opaque to the index: here, the (domid, handle) pairs as JSON. */
  async listChanges(previous?: DomainIdList): Promise<DomainListChanges> {
    this.lists++;
    const before = new Map<number, string>(previous ? JSON.parse(previous.packed.toString()) : []);
    const now = [...this.doms].map(([domid, d]) => [domid, d.handle] as [number, string]).sort((a, b) => a[0] - b[0]);
    const added = now.filter(([id, h]) => before.get(id) !== h).map(([domid, handle]) => ({ domid, handle }));
    const removed = [...before].filter(([id, h]) => this.doms.get(id)?.handle !== h).map(([id]) => id);
    return { list: { packed: Buffer.from(JSON.stringify(now)), count: now.length }, added, removed };
  }
  async namesOf(domids: number[]): Promise<Map<number, string>> {
    this.reads.push(...domids);
    this.duringRead?.();
    return new Map(domids.flatMap((id) => (this.doms.get(id)?.name !== undefined ? [[id, this.doms.get(id)!.name!] as [number, string]] : [])));
  }
  async namesInUse(): Promise<Set<string>> {
    this.fullScans++;
    return new Set([...this.doms.values()].flatMap((d) => (d.name ? [d.name] : [])));
  }
  async watchNames(onChange: (domid?: number) => void) {
    if (!this.watch) return undefined;
    this.onChange = onChange;
    return async () => { this.onChange = undefined; };
  }
}

t.test('each name is read once, then kept until its domain changes', async (t) => {
  const src = new Source();
  src.doms.set(0, { handle: 'h0', name: 'Domain-0' }).set(5, { handle: 'h5', name: 'a' }).set(6, { handle: 'h6' });
  const idx = new NameIndex(src, log);
  await idx.start();
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'a']);
  t.same(src.reads.sort(), [0, 5, 6], 'every domain read once');
  src.reads = [];
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'a']);
  t.same(src.reads, [], 'nothing read again');

  // The unnamed shell gets a name: the watch reports it, and only it is read again.
  src.doms.get(6)!.name = 'b';
  src.onChange!(6);
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'a', 'b']);
  t.same(src.reads, [6]);

  // A rename by another toolstack.
  src.reads = [];
  src.doms.get(5)!.name = 'a2';
  src.onChange!(5);
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'a2', 'b'], 'the old name is free again');

  // A domain gone, its id reused by a new one (another handle), with no event seen.
  src.reads = [];
  src.doms.delete(6);
  src.doms.set(6, { handle: 'h6-new', name: 'c' });
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'a2', 'c']);
  t.same(src.reads, [6], 'the reused id is read as a new domain');

  // onChange(): anything may have changed.
  src.reads = [];
  src.onChange!();
  await idx.snapshot();
  t.same(src.reads.sort(), [0, 5, 6]);
  t.equal(src.fullScans, 0, 'never a full scan while the watch runs');
  await idx.stop();
});

t.test('an event during a read: the name read is used once but not kept', async (t) => {
  const src = new Source();
  src.doms.set(3, { handle: 'h3', name: 'old' });
  const idx = new NameIndex(src, log);
  await idx.start();
  src.duringRead = () => { src.doms.get(3)!.name = 'new'; src.onChange!(3); src.duringRead = undefined; };
  await idx.snapshot();
  src.reads = [];
  t.same([...(await idx.snapshot())], ['new'], 'read again, the new name');
  t.same(src.reads, [3]);
});

t.test('without a watch, every snapshot reads every name', async (t) => {
  const src = new Source();
  src.watch = false;
  src.doms.set(1, { handle: 'h1', name: 'x' });
  const idx = new NameIndex(src, log);
  await idx.start();
  await idx.snapshot();
  await idx.snapshot();
  t.equal(src.fullScans, 2);
});

t.test('after a watch event the index reads the changed names on its own, so the next create reads none', async (t) => {
  const src = new Source();
  src.doms.set(0, { handle: 'h0', name: 'Domain-0' });
  const idx = new NameIndex(src, log, { refreshDelayMs: 20 });
  await idx.start();
  await idx.snapshot();
  src.reads = [];
  // Another toolstack makes three domains; their name writes come as events, close together.
  for (const id of [7, 8, 9]) { src.doms.set(id, { handle: `h${id}`, name: `bg${id}` }); src.onChange!(id); }
  t.same(src.reads, [], 'nothing read at the event itself');
  await new Promise((r) => setTimeout(r, 100));
  t.same(src.reads.sort(), [7, 8, 9], 'one background read took all three');
  src.reads = [];
  t.same([...(await idx.snapshot())].sort(), ['Domain-0', 'bg7', 'bg8', 'bg9']);
  t.same(src.reads, [], 'the create that follows reads nothing');
  // After stop, events schedule nothing.
  await idx.stop();
  src.doms.set(10, { handle: 'h10', name: 'late' });
  t.equal(src.onChange, undefined, 'the watch is gone');
});

t.test('without a watch there is no background read', async (t) => {
  const src = new Source();
  src.watch = false;
  src.doms.set(1, { handle: 'h1', name: 'x' });
  const idx = new NameIndex(src, log, { refreshDelayMs: 5 });
  await idx.start();
  await new Promise((r) => setTimeout(r, 30));
  t.equal(src.fullScans, 0, 'nothing read until a snapshot is asked for');
});

t.test('names chaosd gives (and its nameless shells) are never read; one gone before any list showed it is dropped', async (t) => {
  const src = new Source();
  src.doms.set(0, { handle: 'h0', name: 'Domain-0' });
  const idx = new NameIndex(src, log);
  await idx.start();
  await idx.snapshot();
  src.reads = [];
  // A shell made, then finished as "vm1"; another shell made and destroyed before any snapshot.
  src.doms.set(4, { handle: 'h4', name: 'vm1' });
  idx.set(4, 'h4', undefined);
  idx.set(4, 'h4', 'vm1');
  idx.set(5, 'h5', 'brief');
  const names = await idx.snapshot();
  t.same([...names].sort(), ['Domain-0', 'vm1']);
  t.same(src.reads, [], 'nothing read: the list showed only what the index was told');
  // Destroyed: the next list drops it, and the set handed out earlier follows.
  src.doms.delete(4);
  t.same([...(await idx.snapshot())], ['Domain-0']);
  t.notOk(names.has('vm1'), 'the set a snapshot returned is kept up to date');
  t.equal(idx.size, 1);
});

t.test('two domains of one name: the name stays in use until both are gone', async (t) => {
  const src = new Source();
  src.doms.set(1, { handle: 'h1', name: 'twin' }).set(2, { handle: 'h2', name: 'twin' });
  const idx = new NameIndex(src, log);
  await idx.start();
  t.same([...(await idx.snapshot())], ['twin']);
  src.doms.delete(1);
  t.same([...(await idx.snapshot())], ['twin'], 'one is left');
  src.doms.delete(2);
  t.same([...(await idx.snapshot())], []);
});

t.test('snapshots asked for together run one after the other, each on the changes since the one before', async (t) => {
  const src = new Source();
  for (let i = 1; i <= 50; i++) src.doms.set(i, { handle: `h${i}`, name: `d${i}` });
  const idx = new NameIndex(src, log);
  await idx.start();
  const [a, b] = await Promise.all([idx.snapshot(), idx.snapshot()]);
  t.equal(a.size, 50);
  t.equal(b.size, 50);
  t.equal(src.reads.length, 50, 'each name read once, not once per snapshot');
  t.equal(src.lists, 2);
  // The list fails: the error reaches the caller, and the next snapshot starts from the last good list.
  const listChanges = src.listChanges.bind(src);
  src.listChanges = async () => { throw new Error('xc_domain_getinfolist failed'); };
  await t.rejects(idx.snapshot(), /getinfolist/);
  src.listChanges = listChanges;
  src.doms.delete(50);
  t.equal((await idx.snapshot()).size, 49);
});
