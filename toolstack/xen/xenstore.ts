// XenStore for the toolstack: batches of operations run in one transaction, retried on conflict.
import { ChaosError } from '../errors.js';
import type { XenNative, XsOp, XsPerm, XsResult } from './types.js';

/** Collects operations; nothing touches XenStore until the batch runs. */
export class XsBatch {
  readonly ops: XsOp[] = [];
  write(path: string, value: string | number): this { this.ops.push({ op: 'write', path, value: String(value) }); return this; }
  mkdir(path: string): this { this.ops.push({ op: 'mkdir', path }); return this; }
  rm(path: string): this { this.ops.push({ op: 'rm', path }); return this; }
  read(path: string): this { this.ops.push({ op: 'read', path }); return this; }
  directory(path: string): this { this.ops.push({ op: 'directory', path }); return this; }
  perms(path: string, perms: XsPerm[]): this { this.ops.push({ op: 'setPermissions', path, perms }); return this; }
}

/** Conflicting transactions are normal under load; give up only after many tries. */
const MAX_TRIES = 16;

export class XenStore {
  constructor(private readonly xen: XenNative) {}

  /** Runs `build`'s operations atomically; re-runs the whole batch when another writer got in first. */
  async transaction(build: (b: XsBatch) => void): Promise<XsResult[]> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const b = new XsBatch();
      build(b);
      const r = await this.xen.xsBatch(b.ops, true);
      if (r.committed) return r.results;
    }
    throw new ChaosError('XENSTORE', `a XenStore transaction conflicted ${MAX_TRIES} times in a row; XenStore is overloaded`);
  }

  /** Runs operations one by one, outside any transaction (reads of a consistent-enough view). */
  async batch(build: (b: XsBatch) => void): Promise<XsResult[]> {
    const b = new XsBatch();
    build(b);
    return (await this.xen.xsBatch(b.ops, false)).results;
  }

  async read(path: string): Promise<string | undefined> {
    const [v] = await this.batch((b) => b.read(path));
    return typeof v === 'string' ? v : undefined;
  }

  async directory(path: string): Promise<string[]> {
    const [v] = await this.batch((b) => b.directory(path));
    return Array.isArray(v) ? (v as string[]) : [];
  }

  async write(path: string, value: string | number): Promise<void> {
    await this.batch((b) => b.write(path, value));
  }

  async rm(path: string): Promise<void> {
    await this.batch((b) => b.rm(path));
  }
}
