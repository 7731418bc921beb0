// chaosd's build workers, started ahead (one per CPU by default): each a child process with its own Xen handles; build steps go to the least busy one.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChaosError, ERROR_CODES, type ErrorCode } from '../toolstack/errors.js';
import type { PhaseTimings, Shell, ShellSize } from '../toolstack/domain.js';
import type { DomainConfig } from '../toolstack/config/domain-config.js';
import type { DomainRecord } from '../toolstack/store.js';
import type { Log } from '../toolstack/log.js';
import { isReply, WORKER_PROTOCOL, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

/** The build steps chaosd hands out: the toolstack itself (in-process) or the workers. */
export interface Builder {
  prepare(size: ShellSize, opts: { uuid: string; devMethod?: 'xenstore' | 'noxs' }): Promise<Shell>;
  /** `timings` (optional) is filled with the milliseconds of each phase of the finish. */
  finish(shell: Shell, cfg: DomainConfig, opts: { paused?: boolean; nameChecked?: boolean; timings?: PhaseTimings }): Promise<DomainRecord>;
  destroyShell(shell: Pick<Shell, 'domid' | 'devMethod'>): Promise<void>;
}

type Pending = { resolve(v: unknown): void; reject(e: unknown): void; timings?: PhaseTimings };

/** Distributive Omit, so that each request keeps its own fields. */
type Body = WorkerRequest extends infer R ? R extends WorkerRequest ? Omit<R, 'v' | 'id'> : never : never;

class Worker {
  readonly pending = new Map<number, Pending>();
  ready: Promise<void>;
  alive = true;

  constructor(readonly child: ChildProcess, log: Log, onExit: (w: Worker) => void) {
    this.ready = new Promise((resolve, reject) => {
      const early = (code: number | null) => reject(new ChaosError('INTERNAL', `a chaosd worker exited (${code}) before it was ready`));
      child.once('exit', early);
      child.on('message', (m: unknown) => {
        if (!isReply(m)) { log.error({ message: m }, 'a worker sent something that is not a reply: ignored'); return; }
        if (m.id === 0) { child.off('exit', early); resolve(); return; }
        this.settle(m as Exclude<WorkerReply, { value: 'ready' }>);
      });
    });
    child.on('exit', (code, signal) => {
      this.alive = false;
      for (const p of this.pending.values()) p.reject(new ChaosError('INTERNAL', `the chaosd worker ${child.pid} died (${signal ?? code}) during a build: what it was building is rolled back at the next start`));
      this.pending.clear();
      onExit(this);
    });
  }

  private settle(m: Exclude<WorkerReply, { value: 'ready' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) {
      if (p.timings && m.timings) Object.assign(p.timings, m.timings);
      p.resolve(m.value);
    }
    else {
      const code: ErrorCode = m.error.code in ERROR_CODES ? (m.error.code as ErrorCode) : 'INTERNAL';
      p.reject(new ChaosError(code, m.error.message, { ...(m.error.key ? { key: m.error.key } : {}), ...(m.error.domid !== undefined ? { domid: m.error.domid } : {}) }));
    }
  }

  send(id: number, body: Body, timings?: PhaseTimings): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, timings });
      this.child.send({ v: WORKER_PROTOCOL, id, ...body } as WorkerRequest, (err) => {
        if (err) { this.pending.delete(id); reject(new ChaosError('INTERNAL', `could not reach a chaosd worker: ${err.message}`)); }
      });
    });
  }
}

export class Workers implements Builder {
  private readonly list: Worker[] = [];
  private seq = 0;
  private stopping = false;

  constructor(private readonly n: number, private readonly args: { stateDir: string; logLevel: string; logFile?: string }, private readonly log: Log) {}

  /** Starts the workers and waits until each has opened its Xen handles. */
  async start(): Promise<void> {
    for (let i = 0; i < this.n; i++) this.spawn();
    await Promise.all(this.list.map((w) => w.ready));
    this.log.info({ workers: this.list.map((w) => w.child.pid) }, 'build workers ready');
  }

  private spawn(): Worker {
    const script = fileURLToPath(new URL('./worker.js', import.meta.url));
    const child = fork(script, [this.args.stateDir, this.args.logLevel, ...(this.args.logFile ? [this.args.logFile] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w = new Worker(child, this.log, (dead) => {
      const i = this.list.indexOf(dead);
      if (i >= 0) this.list.splice(i, 1);
      if (!this.stopping) {
        this.log.error({ pid: child.pid }, 'a build worker died: starting another');
        const again = this.spawn();
        again.ready.catch((err) => this.log.error({ err: (err as Error).message }, 'a replacement worker did not start'));
      }
    });
    this.list.push(w);
    return w;
  }

  /** The live worker with the fewest requests in flight. */
  private pick(): Worker {
    const live = this.list.filter((w) => w.alive);
    if (!live.length) throw new ChaosError('UNAVAILABLE', 'chaosd has no build worker running');
    return live.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }

  async prepare(size: ShellSize, opts: { uuid: string; devMethod?: 'xenstore' | 'noxs' }): Promise<Shell> {
    const w = this.pick();
    await w.ready;
    return (await w.send(++this.seq, { op: 'prepare', size, uuid: opts.uuid, ...(opts.devMethod ? { devMethod: opts.devMethod } : {}) })) as Shell;
  }

  async finish(shell: Shell, cfg: DomainConfig, opts: { paused?: boolean; timings?: PhaseTimings }): Promise<DomainRecord> {
    const w = this.pick();
    await w.ready;
    return (await w.send(++this.seq, { op: 'finish', shell, cfg, paused: !!opts.paused }, opts.timings)) as DomainRecord;
  }

  async destroyShell(shell: Pick<Shell, 'domid' | 'devMethod'>): Promise<void> {
    const w = this.pick();
    await w.ready;
    await w.send(++this.seq, { op: 'destroyShell', domid: shell.domid, ...(shell.devMethod ? { devMethod: shell.devMethod } : {}) });
  }

  /** Stops the workers (after the daemon's work is done). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.list.map((w) => new Promise<void>((resolve) => {
      if (!w.alive) { resolve(); return; }
      w.child.once('exit', () => resolve());
      w.child.disconnect();
    })));
  }

  get pids(): number[] { return this.list.filter((w) => w.alive).map((w) => w.child.pid!); }
}
