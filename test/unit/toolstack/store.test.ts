// Unit: the toolstack's record store: records written whole with mode 0600, names given and found by a link, a name given again replaced, an older store's name files read, removal, and names that cannot be files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DomainStore, type DomainRecord } from '../../../toolstack/store.js';
import type { DomainConfig } from '../../../toolstack/config/domain-config.js';

function record(domid: number, name: string, uuid = `00000000-0000-4000-8000-${String(domid).padStart(12, '0')}`): DomainRecord {
  return { domid, name, uuid, config: { name } as DomainConfig, devMethod: 'noxs', createdAt: '2026-12-02T00:00:00.000Z', consoleMfn: 1234 };
}

function fresh(t: Test): { dir: string; store: DomainStore } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, store: new DomainStore(dir) };
}

t.test('a record is written whole, private, in directories made on the first write', async (t) => {
  const { dir, store } = fresh(t);
  store.put(record(5, 'web'));
  t.same(store.get(5), record(5, 'web'), 'read back as written');
  t.equal(fs.statSync(path.join(dir, 'domains', '5.json')).mode & 0o777, 0o600, 'the record is 0600');
  t.equal(fs.statSync(path.join(dir, 'domains')).mode & 0o777, 0o700, 'its directory is 0700');
  t.equal(fs.statSync(path.join(dir, 'names')).mode & 0o777, 0o700, 'the names directory is 0700');
  t.same(fs.readdirSync(path.join(dir, 'domains')), ['5.json'], 'no temporary file is left');
  t.same(fs.readdirSync(path.join(dir, 'names')), ['web'], 'one entry per name');
  t.equal(fs.readlinkSync(path.join(dir, 'names', 'web')), '5', 'the name is a link to the domid');
  t.equal(store.get(5, 'another-uuid'), undefined, 'a record asked for with another uuid (a reused domid) is not it');
});

t.test('a domain is found by its name', async (t) => {
  const { store } = fresh(t);
  store.put(record(5, 'web'));
  store.put(record(6, 'db'));
  t.equal(store.byName('web')?.domid, 5);
  t.equal(store.byName('db')?.domid, 6);
  t.equal(store.byName('mail'), undefined, 'a name never given');
});

t.test('a name given again points at the new domain, and the old record no longer claims it', async (t) => {
  const { dir, store } = fresh(t);
  store.put(record(5, 'web'));
  store.put(record(9, 'web'));
  t.equal(store.byName('web')?.domid, 9, 'the name is the new domain\'s');
  t.same(fs.readdirSync(path.join(dir, 'names')), ['web'], 'replaced in place, no temporary file left');
  store.remove(5);
  t.equal(store.byName('web')?.domid, 9, 'removing the old domain leaves the name to the new one');
  store.remove(9);
  t.equal(store.byName('web'), undefined, 'removing the new one frees the name');
  t.same(fs.readdirSync(path.join(dir, 'names')), [], 'and its entry');
});

t.test('an entry whose record went away (a crash between the two) finds nothing', async (t) => {
  const { dir, store } = fresh(t);
  store.put(record(5, 'web'));
  fs.rmSync(path.join(dir, 'domains', '5.json'));
  t.equal(store.byName('web'), undefined);
  store.put(record(7, 'web'));
  t.equal(store.byName('web')?.domid, 7, 'and the name can be given again');
});

t.test('a name entry that points at a record of another name finds nothing', async (t) => {
  const { dir, store } = fresh(t);
  store.put(record(5, 'web'));
  store.put(record(6, 'db'));
  fs.rmSync(path.join(dir, 'names', 'db'));
  fs.symlinkSync('5', path.join(dir, 'names', 'db'));
  t.equal(store.byName('db'), undefined, 'domain 5 is named web, not db');
});

t.test('a store written before names were links (a file holding the domid) is still read', async (t) => {
  const { dir, store } = fresh(t);
  store.put(record(5, 'web'));
  fs.rmSync(path.join(dir, 'names', 'web'));
  fs.writeFileSync(path.join(dir, 'names', 'web'), '5');
  t.equal(store.byName('web')?.domid, 5, 'the file is read');
  store.put(record(8, 'web'));
  t.equal(fs.readlinkSync(path.join(dir, 'names', 'web')), '8', 'giving the name again replaces the file with a link');
  fs.rmSync(path.join(dir, 'names', 'web'));
  fs.writeFileSync(path.join(dir, 'names', 'web'), 'not a domid');
  t.equal(store.byName('web'), undefined, 'an entry that holds no domid finds nothing');
  fs.rmSync(path.join(dir, 'names', 'web'));
  fs.symlinkSync('../../etc/passwd', path.join(dir, 'names', 'web'));
  t.equal(store.byName('web'), undefined, 'nor does a link to anything but a domid');
});

t.test('names that cannot be an entry in the directory are not looked up', async (t) => {
  const { store } = fresh(t);
  store.put(record(5, 'web'));
  t.equal(store.byName('../domains/5.json'), undefined, 'a path');
  t.equal(store.byName('.web'), undefined, 'a hidden name (the temporary entries)');
});

t.test('all() lists every record; an empty store has none', async (t) => {
  const { dir, store } = fresh(t);
  t.same(store.all(), [], 'nothing written yet');
  store.put(record(5, 'web'));
  store.put(record(6, 'db'));
  fs.writeFileSync(path.join(dir, 'domains', '6.json.123.tmp'), '{');
  t.same(store.all().map((r) => r.domid).sort(), [5, 6], 'temporary files are not records');
});
