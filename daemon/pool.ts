// Pools of anonymous VM shells per size class, kept between low and high watermarks by a background refill that yields to requests and never overcommits host memory.
import crypto from 'node:crypto';
import type { Shell, ShellSize } from '../toolstack/domain.js';
import type { Log } from '../toolstack/log.js';
import type { DomainConfig } from '../toolstack/config/domain-config.js';

export interface PoolClass extends ShellSize {
  /** Its name in the API, logs and metrics, e.g. "small". */
  name: string;
  /** Below this many idle shells, refills run even while requests are being served. */
  low: number;
  /** Refills stop at this many idle shells. */
  high: number;
}

/** What the pools need from the toolstack (the Toolstack fits it). */
export interface ShellMaker {
  prepare(size: ShellSize, opts: { uuid: string }): Promise<Shell>;
  /** With its back-end's devices (noxs: the power device noxsd made for it). */
  destroyShell(shell: Pick<Shell, 'domid' | 'devMethod'>): Promise<void>;
}

/** What the pools tell the journal and the metrics. */
export interface PoolEvents {
  /** Before a shell's domain is made (its uuid is chosen first, so a crash right after leaves a findable domain). */
  beginShell(uuid: string, cls: string): void;
  shellReady(shell: Shell, cls: string, ms: number): void;
  /** A shell failed to be made (nothing is left of it) or was destroyed. */
  shellGone(uuid: string): void;
  refillFailed(cls: string, err: unknown): void;
}

/**
 * Host memory as chaosd accounts it. Xen's free memory does not yet show what idle shells and builds
 * in flight will populate, so both are reserved here, with a margin for dom0 and Xen's own use.
 */
export class MemoryBudget {
  private reserved = 0;

  constructor(private readonly freeMiB: () => Promise<number>, readonly marginMiB: number) {}

  /** MiB a new reservation may take now. */
  async available(): Promise<number> {
    return (await this.freeMiB()) - this.reserved - this.marginMiB;
  }

  /** Reserves `mib` if it is available; false if not (nothing is reserved then). */
  async reserve(mib: number): Promise<boolean> {
    const free = await this.freeMiB();
    // Checked and taken in one step after the only await: two reservations cannot both see the same room.
    if (free - this.reserved - this.marginMiB < mib) return false;
    this.reserved += mib;
    return true;
  }

  /** Reserves without checking (a shell taken by a request moves its reservation, it does not add one). */
  hold(mib: number): void { this.reserved += mib; }

  release(mib: number): void { this.reserved = Math.max(0, this.reserved - mib); }

  get reservedMiB(): number { return this.reserved; }
}

export interface PoolLevel {
  name: string;
  memoryMiB: number;
  maxMemoryMiB: number;
  maxVcpus: number;
  low: number;
  high: number;
  /** Idle shells now. */
  level: number;
  /** Shells being made now. */
  filling: number;
}

/** Checks pool classes from a config: positive whole sizes, 0 <= low <= high, unique names and sizes. */
export function checkClasses(classes: PoolClass[]): string | undefined {
  const names = new Set<string>();
  const sizes = new Set<string>();
  for (const c of classes) {
    if (typeof c.name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(c.name)) return `a pool's name must be 1-32 of a-z 0-9 _ -, not ${JSON.stringify(c.name)}`;
    for (const k of ['memoryMiB', 'maxMemoryMiB', 'maxVcpus'] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 1) return `pool ${c.name}: ${k} must be a whole number of at least 1`;
    }
    if (c.maxMemoryMiB < c.memoryMiB) return `pool ${c.name}: maxMemoryMiB is below memoryMiB`;
    if (!Number.isInteger(c.low) || !Number.isInteger(c.high) || c.low < 0 || c.high < c.low || c.high > 10000) return `pool ${c.name}: watermarks need 0 <= low <= high <= 10000`;
    if (names.has(c.name)) return `two pools are named ${c.name}`;
    const key = `${c.memoryMiB}/${c.maxMemoryMiB}/${c.maxVcpus}`;
    if (sizes.has(key)) return `pool ${c.name} has the size of another pool`;
    names.add(c.name);
    sizes.add(key);
  }
  return undefined;
}

/**
 * The pools. Each class is a small state machine over its idle shells: take() moves a shell to the
 * caller; refill() makes shells until `high`, one at a time across all classes, and only while no
 * request is in flight unless a class is below `low` (so requests are never starved by refills,
 * and an emptied pool still recovers under load). Every shell holds its memory in the budget.
 */
export class Pools {
  private readonly idle = new Map<string, Shell[]>();
  private readonly filling = new Map<string, number>();
  private refilling = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Requests in flight, as the daemon counts them; refills above `low` wait for zero. */
  busy = 0;
  /** When the last request ended (performance.now()); refills above `low` wait `quietMs` after it. */
  private lastRequestEnd = -Infinity;
  private quietTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    readonly classes: PoolClass[],
    private readonly maker: ShellMaker,
    private readonly budget: MemoryBudget,
    private readonly events: PoolEvents,
    private readonly log: Log,
    private readonly retryMs = 2000,
    /**
     * How long refills above `low` wait after a request ends: the VM it just started boots in those
     * moments, and a refill (a domain made, its XenStore home written) would take dom0's CPU from
     * its boot and from xenconsoled. Below `low` a pool is refilled at once.
     */
    private readonly quietMs = 1000,
  ) {
    for (const c of classes) { this.idle.set(c.name, []); this.filling.set(c.name, 0); }
  }

  /** The class whose size is exactly the config's, if any. */
  classFor(cfg: Pick<DomainConfig, 'memoryMiB' | 'maxMemoryMiB' | 'maxVcpus'>): PoolClass | undefined {
    return this.classes.find((c) => c.memoryMiB === cfg.memoryMiB && c.maxMemoryMiB === cfg.maxMemoryMiB && c.maxVcpus === cfg.maxVcpus);
  }

  /**
   * Takes an idle shell for `cfg`, or undefined when no class fits or its pool is empty. The shell's
   * memory stays reserved: the caller releases it when the build has populated it (or failed).
   */
  take(cfg: Pick<DomainConfig, 'memoryMiB' | 'maxMemoryMiB' | 'maxVcpus'> & Partial<Pick<DomainConfig, 'devMethod'>>): { shell: Shell; cls: PoolClass } | undefined {
    const cls = this.classFor(cfg);
    const idle = cls && this.idle.get(cls.name)!;
    // A shell is made for one device method (chaosd's --dev-method): a config of the other is built from scratch.
    const at = idle ? idle.findIndex((s) => cfg.devMethod === undefined || s.devMethod === undefined || s.devMethod === cfg.devMethod) : -1;
    const shell = idle && at >= 0 ? idle.splice(at, 1)[0] : undefined;
    this.kick();
    return cls && shell ? { shell, cls } : undefined;
  }

  levels(): PoolLevel[] {
    return this.classes.map((c) => ({
      name: c.name, memoryMiB: c.memoryMiB, maxMemoryMiB: c.maxMemoryMiB, maxVcpus: c.maxVcpus, low: c.low, high: c.high,
      level: this.idle.get(c.name)!.length, filling: this.filling.get(c.name)!,
    }));
  }

  /** Every idle shell (for the journal's compaction and the shutdown). */
  shells(): { shell: Shell; cls: string }[] {
    return [...this.idle].flatMap(([cls, list]) => list.map((shell) => ({ shell, cls })));
  }

  /** Whether every class is at its high watermark. */
  full(): boolean {
    return this.classes.every((c) => this.idle.get(c.name)!.length >= c.high);
  }

  /** A request ended: refills resume (above `low`) once no other request has run for `quietMs`. */
  requestEnded(): void {
    this.lastRequestEnd = performance.now();
    this.kick();
  }

  /** Starts the background refill if it is not running; called after every change. */
  kick(): void {
    if (this.refilling || this.stopped) return;
    this.refilling = true;
    void this.refillLoop().finally(() => {
      this.refilling = false;
      for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /** The class to refill next: the emptiest below low first; above low only when no request runs. */
  private next(): PoolClass | undefined {
    const wait = this.quietMs - (performance.now() - this.lastRequestEnd);
    const quiet = this.busy === 0 && wait <= 0;
    const below = this.classes
      .map((c) => ({ c, have: this.idle.get(c.name)!.length + this.filling.get(c.name)! }))
      .filter(({ c, have }) => have < c.high);
    const want = below
      .filter(({ c, have }) => have < c.low || quiet)
      .sort((a, b) => a.have / Math.max(a.c.high, 1) - b.have / Math.max(b.c.high, 1));
    // Only the quiet period holds a refill back: come back when it is over.
    if (!want.length && below.length && this.busy === 0 && wait > 0 && !this.quietTimer && !this.stopped) {
      this.quietTimer = setTimeout(() => { this.quietTimer = undefined; this.kick(); }, wait + 1);
      this.quietTimer.unref();
    }
    return want[0]?.c;
  }

  private async refillLoop(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const cls = this.next();
      if (!cls) return;
      if (!(await this.budget.reserve(cls.memoryMiB))) {
        this.log.debug({ pool: cls.name, reservedMiB: this.budget.reservedMiB }, 'no memory for another shell: pool stays below its watermark');
        this.retryLater();
        return;
      }
      const uuid = crypto.randomUUID();
      this.filling.set(cls.name, this.filling.get(cls.name)! + 1);
      const t0 = performance.now();
      try {
        this.events.beginShell(uuid, cls.name);
        const shell = await this.maker.prepare(cls, { uuid });
        if (this.stopped) {
          // Stopped while it was being made: nobody will take it.
          await this.maker.destroyShell(shell).catch(() => undefined);
          this.budget.release(cls.memoryMiB);
          this.events.shellGone(uuid);
          return;
        }
        this.idle.get(cls.name)!.push(shell);
        this.events.shellReady(shell, cls.name, performance.now() - t0);
      } catch (err) {
        this.budget.release(cls.memoryMiB);
        this.events.shellGone(uuid);
        this.events.refillFailed(cls.name, err);
        this.log.warn({ pool: cls.name, err: (err as Error).message }, 'could not make a shell: retrying later');
        this.retryLater();
        return;
      } finally {
        this.filling.set(cls.name, this.filling.get(cls.name)! - 1);
      }
      // Let requests that arrived meanwhile run first.
      await new Promise((r) => setImmediate(r));
    }
  }

  private retryLater(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.kick(); }, this.retryMs);
    this.retryTimer.unref();
  }

  /** Resolves when no refill is running (tests, shutdown). */
  settled(): Promise<void> {
    if (!this.refilling) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops refilling, waits for the shell being made, and destroys every idle shell. */
  async drain(): Promise<number> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.quietTimer) clearTimeout(this.quietTimer);
    await this.settled();
    let n = 0;
    for (const { shell, cls } of this.shells()) {
      const c = this.classes.find((x) => x.name === cls)!;
      await this.maker.destroyShell(shell).catch((err) => this.log.error({ domid: shell.domid, err: (err as Error).message }, 'could not destroy a shell'));
      this.budget.release(c.memoryMiB);
      this.events.shellGone(shell.uuid);
      n++;
    }
    for (const list of this.idle.values()) list.length = 0;
    return n;
  }
}
