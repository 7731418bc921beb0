// chaosd's core, without HTTP: creates from pool shells or from scratch, the other verbs, the journal, reconciliation after a crash, and the orderly stop.
import crypto from 'node:crypto';
import os from 'node:os';
import { ChaosError } from '../toolstack/errors.js';
import { shellSizeOf, type DomainSummary, type PhaseTimings, type Shell, type Toolstack } from '../toolstack/domain.js';
import { checkFiles, type DomainConfig } from '../toolstack/config/domain-config.js';
import type { Log } from '../toolstack/log.js';
import type { DomainRecord } from '../toolstack/store.js';
import { Journal, reconcile } from './journal.js';
import { MemoryBudget, Pools, type PoolClass, type PoolLevel } from './pool.js';
import { Metrics } from './metrics.js';
import { NameIndex } from './names.js';
import type { Builder } from './workers.js';

export interface ServiceOptions {
  ts: Toolstack;
  /** The journal's directory (under the state directory). */
  journalDir: string;
  classes: PoolClass[];
  log: Log;
  /** MiB of free host memory chaosd never takes (dom0's and Xen's own needs). */
  marginMiB: number;
  /** Creates that run at once; more wait their turn. */
  parallel: number;
  /** fdatasync after every journal line (off by default: see Journal). */
  syncJournal?: boolean;
  /** Total host memory, MiB (physinfo), for refusing what no host state could give. */
  hostMiB(): Promise<number>;
  /** Delay before a failed refill is retried. */
  refillRetryMs?: number;
  /** How long refills above a pool's low watermark wait after a request (default 1 s: the new VM boots meanwhile). */
  refillQuietMs?: number;
  /** Who does the build steps (prepare, finish, destroy a shell): the worker processes; default the toolstack in this process. */
  builder?: Builder;
}

/** A create's reply; `phases` says where its milliseconds went (check, queue, journal, ipc, and the finish's own phases). */
export interface Created { domid: number; name: string; uuid: string; fromPool: string | null; ms: number; phases: PhaseTimings }

/** The finish phases that get a histogram of their own in the metrics (devices: what the finish adds beyond the shell's, inside connect). */
const FINISH_PHASES = ['build', 'connect', 'devices', 'record', 'introduce', 'unpause'] as const;
/** The prepare phases likewise (devices: the back-end's part of a shell, e.g. noxs's power device). */
const PREPARE_PHASES = ['domain', 'devices'] as const;
/** How long a reading of the host's total memory is reused. */
const HOST_MEMORY_TTL_MS = 10_000;
/** The largest guest (MiB) whose lone finish builds on chaosd's own thread (see build()): unikernels and tiny Linux VMs. */
const BUILD_ON_LOOP_MAX_MIB = 32;

export type State = 'starting' | 'running' | 'stopping' | 'stopped';

/** A counting semaphore: at most `n` holders, the rest wait in order. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.n) { this.used++; return; }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next(); else this.used--;
  }
}

export class Chaosd {
  state: State = 'starting';
  readonly metrics = new Metrics();
  readonly pools: Pools;
  readonly budget: MemoryBudget;
  private readonly journal: Journal;
  private readonly names = new Set<string>();
  private readonly slots: Slots;
  private inflight = 0;
  /** Finishes under way (in this process or in workers). */
  private finishing = 0;
  private readonly quiet: (() => void)[] = [];
  /** Domains whose create or destroy is under way: not shown as VMs, not touched by another request. */
  private readonly building = new Set<number>();
  readonly startedAt = Date.now();
  private readonly builder: Builder;
  private snapshot: { started: number; names: Promise<ReadonlySet<string>> } | undefined;
  private host: { at: number; mib: Promise<number> } | undefined;
  private readonly nameIndex: NameIndex;

  constructor(private readonly o: ServiceOptions) {
    this.builder = o.builder ?? o.ts;
    this.journal = new Journal(o.journalDir, o.syncJournal ?? false);
    this.budget = new MemoryBudget(() => o.ts.freeMiB(), o.marginMiB);
    this.nameIndex = new NameIndex(o.ts, o.log.child({ unit: 'names' }));
    this.slots = new Slots(Math.max(1, o.parallel));
    this.pools = new Pools(o.classes, {
      prepare: (size, opts) => this.builder.prepare(size, opts),
      destroyShell: (s) => this.builder.destroyShell(s),
    }, this.budget, {
      // The pools' shells are made with the toolstack's default method (chaosd's --dev-method), in workers too.
      beginShell: (uuid, cls) => this.journal.append({ t: 'begin', uuid, cls, dev: o.ts.defaultDevMethod }),
      shellReady: (shell, cls, ms) => {
        this.journal.append({ t: 'shell', uuid: shell.uuid, domid: shell.domid, cls, dev: shell.devMethod ?? o.ts.defaultDevMethod });
        // Nameless: the create that takes it does not read its name.
        this.nameIndex.set(shell.domid, shell.uuid, undefined);
        this.metrics.observe('prepare', ms);
        this.observePrepare(shell);
      },
      shellGone: (uuid) => this.journal.append({ t: 'gone', uuid }),
      refillFailed: (cls, err) => this.metrics.fail('refill', (err as ChaosError).code ?? 'INTERNAL'),
    }, o.log.child({ unit: 'pools' }), o.refillRetryMs, o.refillQuietMs);
  }

  /**
   * Reconciles the journal with Xen's domains, then starts filling the pools. VMs the journal says
   * were created and Xen still runs are kept; shells and half-built domains of an earlier run are
   * destroyed; the journal is rewritten with what is left.
   */
  async start(): Promise<{ adopted: number; destroyed: number; skippedLines: number }> {
    const { state, skipped } = this.journal.replay();
    const infos = await this.o.ts.allInfo();
    const byUuid = new Map(infos.filter((i) => i.domid !== 0 && !i.dying).map((i) => [i.handle, i.domid]));
    const r = reconcile(state, byUuid);
    for (const d of r.destroy) {
      try {
        // Its devices first, by the journal's method (a shell made under another --dev-method too):
        // a shell never ran, and noxsd is told rather than left to notice the dead domain. destroy
        // then forgets by the record's (or the default) method; forgetting twice is harmless.
        const dev = d.dev ?? this.o.ts.record(d.domid)?.devMethod ?? this.o.ts.defaultDevMethod;
        await this.o.ts.backend.forget(d.domid, dev).catch((err: Error) => this.o.log.warn({ domid: d.domid, dev, err: err.message }, 'reconcile: could not remove the devices of a domain it destroys'));
        await this.o.ts.destroy(d.domid);
        this.o.log.info({ domid: d.domid, uuid: d.uuid, why: d.why, dev }, 'reconcile: destroyed');
        this.metrics.count('reconcile_destroyed');
      } catch (err) {
        if ((err as ChaosError).code !== 'DOMAIN_NOT_FOUND') throw err;
      }
    }
    for (const a of r.adopt) {
      this.o.log.info({ domid: a.domid, name: a.name }, 'reconcile: adopted a running VM');
      this.metrics.count('reconcile_adopted');
    }
    this.journal.rewrite(r.adopt.map((a) => ({ t: 'created' as const, uuid: a.uuid, domid: a.domid, name: a.name })));
    if (skipped) this.o.log.warn({ skipped }, 'reconcile: journal lines that could not be read were skipped');
    await this.nameIndex.start();
    this.state = 'running';
    this.pools.kick();
    return { adopted: r.adopt.length, destroyed: r.destroy.length, skippedLines: skipped };
  }

  private accepting(): void {
    if (this.state !== 'running') throw new ChaosError('UNAVAILABLE', `chaosd is ${this.state}: it takes no new work now`);
  }

  /** Wraps work that changes domains: counted, so stop() can wait for it. */
  private async work<T>(fn: () => Promise<T>): Promise<T> {
    this.accepting();
    this.inflight++;
    try {
      return await fn();
    } finally {
      if (--this.inflight === 0) for (const q of this.quiet.splice(0)) q();
    }
  }

  /**
   * Creates one VM: checks everything a request can get wrong before anything is made, then finishes
   * an idle shell of its class, or builds it from scratch when no class fits or the pool is empty.
   */
  async create(cfg: DomainConfig, opts: { paused?: boolean } = {}): Promise<Created> {
    return this.work(async () => {
      const t0 = performance.now();
      if (this.names.has(cfg.name)) throw new ChaosError('NAME_IN_USE', `a domain named ${JSON.stringify(cfg.name)} is being created`, { key: 'name' });
      this.names.add(cfg.name);
      this.pools.busy++;
      const phases: PhaseTimings = {};
      try {
        // The checks need nothing of each other: they run side by side, and what fails is reported
        // in the order they were made one after the other (files, host memory, name and free memory).
        // When the names in use were known: the one part of the checks that grows with the domains Xen runs.
        const taken = this.takenNames(t0);
        taken.then(() => { phases['check.names'] = performance.now() - t0; }, () => undefined);
        const [files, host, free] = await Promise.allSettled([
          checkFiles(cfg),
          this.hostMiB(),
          this.o.ts.checkCreate(cfg, taken),
        ]);
        if (files.status === 'rejected') throw files.reason;
        if (host.status === 'rejected') throw host.reason;
        if (cfg.memoryMiB > host.value) throw new ChaosError('NO_MEMORY', `${cfg.name} asks for ${cfg.memoryMiB} MiB but the host has only ${Math.floor(host.value)} MiB in all`);
        if (free.status === 'rejected') throw free.reason;
        phases.check = performance.now() - t0;
        const tw = performance.now();
        await this.slots.acquire();
        phases.queue = performance.now() - tw;
        try {
          return await this.build(cfg, opts, t0, phases);
        } finally {
          this.slots.release();
        }
      } catch (err) {
        this.metrics.fail('create', (err as ChaosError).code ?? 'INTERNAL');
        throw err;
      } finally {
        this.names.delete(cfg.name);
        this.pools.busy--;
        this.pools.requestEnded();
      }
    });
  }

  /** The host's total memory: physinfo once a while (it does not change while chaosd runs, but a read is cheap to redo). */
  private hostMiB(): Promise<number> {
    const now = Date.now();
    if (!this.host || now - this.host.at > HOST_MEMORY_TTL_MS) {
      const at = now, mib = this.o.hostMiB();
      this.host = { at, mib };
      mib.catch(() => { if (this.host?.at === at) this.host = undefined; });
    }
    return this.host.mib;
  }

  private async build(cfg: DomainConfig, opts: { paused?: boolean }, t0: number, phases: PhaseTimings): Promise<Created> {
    const taken = cfg.uuid === undefined ? this.pools.take(cfg) : undefined;
    const mib = cfg.memoryMiB;
    let shell: Shell | undefined = taken?.shell;
    if (!taken) {
      // The shell's reservation covers a pool create; one from scratch reserves its own.
      if (!(await this.budget.reserve(mib))) {
        const avail = Math.floor(await this.budget.available());
        throw new ChaosError('NO_MEMORY', `${cfg.name} asks for ${mib} MiB but only ${Math.max(avail, 0)} MiB are free beyond what chaosd keeps for shells, builds in flight and its ${this.o.marginMiB} MiB margin`);
      }
    }
    const uuid = shell?.uuid ?? cfg.uuid ?? crypto.randomUUID();
    const tj = performance.now();
    this.journal.append({ t: 'build', uuid, name: cfg.name, ...(shell ? { domid: shell.domid } : {}), dev: shell?.devMethod ?? cfg.devMethod });
    phases.journal = performance.now() - tj;
    try {
      if (!shell) {
        const tp = performance.now();
        shell = await this.builder.prepare(shellSizeOf(cfg), { uuid, devMethod: cfg.devMethod });
        phases.prepare = performance.now() - tp;
        if (shell.phases?.devices !== undefined) phases['prepare.devices'] = shell.phases.devices;
        this.metrics.observe('prepare', phases.prepare);
        this.observePrepare(shell);
      }
      this.building.add(shell.domid);
      const tf = performance.now();
      const inWorker: PhaseTimings = {};
      // A finish with no other under way runs in this process: a lone create skips the round trip to a
      // worker (two process switches and two messages); concurrent finishes spread over the workers.
      const lone = this.finishing === 0;
      const finisher = lone ? this.o.ts : this.builder;
      // A lone finish of a small guest builds on this thread too: the hop to libuv's pool and back
      // costs more than the build itself (in the lab 4-5 ms of a 10 ms build), and with no other
      // finish under way there is little for the loop to do meanwhile. The build populates the
      // guest's memory, so a larger guest builds off the loop, which stays free for other requests.
      const onThread = lone && cfg.memoryMiB <= BUILD_ON_LOOP_MAX_MIB;
      this.finishing++;
      let rec: DomainRecord;
      try {
        rec = await finisher.finish(shell, cfg, { paused: opts.paused, nameChecked: true, timings: inWorker, recordAfterStart: true, ...(onThread ? { buildOnCallingThread: true } : {}) });
      } finally {
        this.finishing--;
      }
      this.metrics.count(finisher === this.o.ts ? 'finish_in_process' : 'finish_in_worker');
      const finishMs = performance.now() - tf;
      this.metrics.observe('finish', finishMs);
      Object.assign(phases, inWorker);
      // What the round trip to the worker cost beyond the finish itself (messages, queueing there).
      if (inWorker.finish !== undefined) phases.ipc = finishMs - inWorker.finish;
      for (const p of FINISH_PHASES) if (inWorker[p] !== undefined) this.metrics.observe(`finish_${p}`, inWorker[p]);
      // Written before the reply: a VM reported created is in the journal.
      this.journal.append({ t: 'created', uuid, domid: rec.domid, name: rec.name });
      this.nameIndex.set(rec.domid, uuid, rec.name);
      const ms = performance.now() - t0;
      this.metrics.observe('create', ms);
      this.metrics.count(taken ? 'shell_taken' : 'built_from_scratch');
      const rounded = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 10) / 10]));
      this.o.log.info({ domid: rec.domid, name: rec.name, phase: 'create', ms, pool: taken?.cls.name ?? null, phases: rounded }, 'VM created');
      return { domid: rec.domid, name: rec.name, uuid, fromPool: taken?.cls.name ?? null, ms, phases: rounded };
    } catch (err) {
      // prepare and finish destroyed what they had made.
      this.journal.append({ t: 'gone', uuid });
      throw err;
    } finally {
      if (shell) this.building.delete(shell.domid);
      // Populated now (or freed): Xen's free memory shows it.
      this.budget.release(mib);
    }
  }

  /** A shell's prepare phases, as its (in-process or worker) toolstack timed them. */
  private observePrepare(shell: Shell): void {
    for (const p of PREPARE_PHASES) if (shell.phases?.[p] !== undefined) this.metrics.observe(`prepare_${p}`, shell.phases[p]);
  }

  /**
   * The names in use, read once for many requests: reading them all costs one XenStore read per
   * domain, which with hundreds of domains and concurrent requests was most of a create's time (the
   * index now reads only the domains it does not know yet, see names.ts). A request
   * shares a reading only if it started after the request arrived, so it sees every name given
   * before then (names being given now are in `this.names`).
   */
  private takenNames(since: number): Promise<ReadonlySet<string>> {
    if (this.snapshot && this.snapshot.started >= since) return this.snapshot.names;
    const started = performance.now();
    const names = this.nameIndex.snapshot();
    const snap = { started, names };
    this.snapshot = snap;
    names.catch(() => { if (this.snapshot === snap) this.snapshot = undefined; });
    return names;
  }

  /** Creates many at once, each on its own (one failing does not stop the others), `parallel` at a time. */
  async batch(configs: DomainConfig[], opts: { paused?: boolean } = {}): Promise<{ created: Created[]; failed: { name: string; code: string; error: string }[]; ms: number }> {
    this.accepting();
    const t0 = performance.now();
    const settled = await Promise.allSettled(configs.map((c) => this.create(c, opts)));
    const created: Created[] = [];
    const failed: { name: string; code: string; error: string }[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') created.push(s.value);
      else failed.push({ name: configs[i].name, code: (s.reason as ChaosError).code ?? 'INTERNAL', error: (s.reason as Error).message });
    });
    return { created, failed, ms: performance.now() - t0 };
  }

  private shellDomids(): Set<number> {
    return new Set([...this.pools.shells().map((s) => s.shell.domid), ...this.building]);
  }

  /** The VMs (pool shells and half-built domains are not VMs: see pools()). */
  async list(): Promise<DomainSummary[]> {
    const hide = this.shellDomids();
    return (await this.o.ts.list()).filter((d) => !hide.has(d.domid));
  }

  async get(ref: string): Promise<DomainSummary & { uuid?: string; record?: DomainRecord }> {
    const d = await this.vm(ref);
    const record = this.o.ts.record(d.domid);
    return { ...d, ...(record ? { uuid: record.uuid, record } : {}) };
  }

  /** Resolves a VM; a pool shell or a domain being built is not one. */
  private async vm(ref: string): Promise<DomainSummary> {
    const d = await this.o.ts.find(ref);
    if (this.shellDomids().has(d.domid)) throw new ChaosError('GUEST_STATE', `domain ${d.domid} is a pool shell or is being built: it is not a VM yet`, { domid: d.domid });
    return d;
  }

  private timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    return fn().then((v) => { this.metrics.observe(op, performance.now() - t0); return v; },
      (err) => { this.metrics.fail(op, (err as ChaosError).code ?? 'INTERNAL'); throw err; });
  }

  async destroy(ref: string): Promise<DomainSummary> {
    return this.work(() => this.timed('destroy', async () => {
      const d = await this.vm(ref);
      const uuid = this.o.ts.record(d.domid)?.uuid;
      const done = await this.o.ts.destroy(d.domid);
      if (uuid) this.journal.append({ t: 'gone', uuid });
      return done;
    }));
  }

  async pause(ref: string): Promise<DomainSummary> {
    return this.work(() => this.timed('pause', async () => this.o.ts.pause((await this.vm(ref)).domid)));
  }

  async unpause(ref: string): Promise<DomainSummary> {
    return this.work(() => this.timed('unpause', async () => this.o.ts.unpause((await this.vm(ref)).domid)));
  }

  async shutdown(ref: string, o: { reboot: boolean; waitSec?: number }): Promise<DomainSummary> {
    return this.work(() => this.timed('shutdown', async () => this.o.ts.shutdown((await this.vm(ref)).domid, { reboot: o.reboot, waitMs: o.waitSec ? o.waitSec * 1000 : undefined })));
  }

  async save(ref: string, o: { file: string; checkpoint: boolean; live: boolean; timeoutSec: number }): Promise<{ domid: number; name: string; bytes: number; ms: number }> {
    return this.work(() => this.timed('save', async () => {
      const d = await this.vm(ref);
      const uuid = this.o.ts.record(d.domid)?.uuid;
      const { saveToFile } = await import('../toolstack/save.js');
      const r = await saveToFile(this.o.ts, d.domid, o.file, { checkpoint: o.checkpoint, live: o.live, suspendTimeoutMs: o.timeoutSec * 1000 });
      if (!o.checkpoint && uuid) this.journal.append({ t: 'gone', uuid });
      return { domid: r.dom.domid, name: r.dom.name, bytes: r.bytes, ms: r.ms };
    }));
  }

  async restore(o: { file: string; name?: string; paused: boolean }): Promise<{ domid: number; name: string; uuid: string; ms: number }> {
    return this.work(() => this.timed('restore', async () => {
      const { restoreFromFile } = await import('../toolstack/save.js');
      const { record, ms } = await restoreFromFile(this.o.ts, o.file, { paused: o.paused, ...(o.name !== undefined ? { name: o.name } : {}) });
      this.journal.append({ t: 'created', uuid: record.uuid, domid: record.domid, name: record.name });
      this.nameIndex.set(record.domid, record.uuid, record.name);
      return { domid: record.domid, name: record.name, uuid: record.uuid, ms };
    }));
  }

  async migrate(ref: string, o: { host: string; port?: number; tokenFile?: string; live: boolean }): Promise<unknown> {
    return this.work(() => this.timed('migrate', async () => {
      const d = await this.vm(ref);
      const uuid = this.o.ts.record(d.domid)?.uuid;
      const m = await import('../toolstack/migrate.js');
      const r = await m.migrate(this.o.ts, this.o.log, d.domid, { host: o.host, port: o.port ?? m.MIGRATE_PORT, token: m.loadToken(o.tokenFile ?? m.TOKEN_FILE, false), live: o.live });
      if (uuid) this.journal.append({ t: 'gone', uuid });
      return r;
    }));
  }

  poolLevels(): (PoolLevel & { shells: number[] })[] {
    const shells = this.pools.shells();
    return this.pools.levels().map((l) => ({ ...l, shells: shells.filter((s) => s.cls === l.name).map((s) => s.shell.domid) }));
  }

  async health(): Promise<{ state: State; uptimeSec: number; pools: PoolLevel[]; inflight: number; freeMiB: number; reservedMiB: number; hostCpus: number }> {
    return {
      state: this.state, uptimeSec: (Date.now() - this.startedAt) / 1000, pools: this.pools.levels(), inflight: this.inflight,
      freeMiB: Math.floor(await this.o.ts.freeMiB()), reservedMiB: this.budget.reservedMiB, hostCpus: os.cpus().length,
    };
  }

  async metricsText(): Promise<string> {
    const levels = this.pools.levels();
    const free = await this.o.ts.freeMiB().catch(() => NaN);
    return this.metrics.render([
      { name: 'chaosd_pool_shells', help: 'Idle shells in each pool.', samples: levels.map((l) => ({ labels: { pool: l.name }, value: l.level })) },
      { name: 'chaosd_pool_filling', help: 'Shells being made for each pool.', samples: levels.map((l) => ({ labels: { pool: l.name }, value: l.filling })) },
      { name: 'chaosd_pool_low_watermark', help: 'Each pool\'s low watermark.', samples: levels.map((l) => ({ labels: { pool: l.name }, value: l.low })) },
      { name: 'chaosd_pool_high_watermark', help: 'Each pool\'s high watermark.', samples: levels.map((l) => ({ labels: { pool: l.name }, value: l.high })) },
      { name: 'chaosd_inflight_requests', help: 'Requests that change domains, under way.', samples: [{ labels: {}, value: this.inflight }] },
      { name: 'chaosd_host_free_mib', help: 'Memory Xen has not given to any domain.', samples: [{ labels: {}, value: free }] },
      { name: 'chaosd_reserved_mib', help: 'Memory chaosd holds for idle shells and builds in flight.', samples: [{ labels: {}, value: this.budget.reservedMiB }] },
    ]);
  }

  /**
   * The orderly stop (SIGTERM): takes no new work, lets the work under way finish (a create either
   * completes or rolls itself back), destroys the idle shells, leaves every VM running.
   */
  async stop(): Promise<{ shellsDestroyed: number }> {
    if (this.state === 'stopping' || this.state === 'stopped') return { shellsDestroyed: 0 };
    this.state = 'stopping';
    if (this.inflight > 0) await new Promise<void>((r) => this.quiet.push(r));
    const shellsDestroyed = await this.pools.drain();
    await this.nameIndex.stop();
    this.journal.close();
    this.state = 'stopped';
    return { shellsDestroyed };
  }
}

