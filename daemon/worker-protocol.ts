// The messages between chaosd and its build workers (child processes, each with its own Xen handles): a versioned union, checked on receipt.
import type { DomainConfig } from '../toolstack/config/domain-config.js';
import type { PhaseTimings, Shell, ShellSize } from '../toolstack/domain.js';
import type { DomainRecord } from '../toolstack/store.js';

export const WORKER_PROTOCOL = 1;

/** Parent → worker: one build step. The parent has chosen the uuid and the name; the worker only does the Xen work. */
export type WorkerRequest =
  | { v: 1; id: number; op: 'prepare'; size: ShellSize; uuid: string; devMethod?: 'xenstore' | 'noxs' }
  | { v: 1; id: number; op: 'finish'; shell: Shell; cfg: DomainConfig; paused: boolean }
  | { v: 1; id: number; op: 'destroyShell'; domid: number; devMethod?: 'xenstore' | 'noxs' };

/** Worker → parent: the result of request `id` (for finish, with the milliseconds of each phase), or its error as a ChaosError's fields. */
export type WorkerReply =
  | { v: 1; id: number; ok: true; value: Shell | DomainRecord | null; timings?: PhaseTimings }
  | { v: 1; id: number; ok: false; error: { code: string; message: string; key?: string; domid?: number } }
  /** Sent once, when the worker has opened its Xen handles. */
  | { v: 1; id: 0; ok: true; value: 'ready' };

export function isRequest(m: unknown): m is WorkerRequest {
  const o = m as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.v !== WORKER_PROTOCOL || !Number.isInteger(o.id)) return false;
  if (o.op === 'prepare') return typeof o.uuid === 'string' && typeof o.size === 'object' && o.size !== null;
  if (o.op === 'finish') return typeof o.shell === 'object' && o.shell !== null && typeof o.cfg === 'object' && o.cfg !== null && typeof o.paused === 'boolean';
  if (o.op === 'destroyShell') return Number.isInteger(o.domid) && (o.devMethod === undefined || o.devMethod === 'xenstore' || o.devMethod === 'noxs');
  return false;
}

export function isReply(m: unknown): m is WorkerReply {
  const o = m as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.v !== WORKER_PROTOCOL || !Number.isInteger(o.id)) return false;
  if (o.ok === true) return 'value' in o;
  return o.ok === false && typeof o.error === 'object' && o.error !== null && typeof (o.error as { code?: unknown }).code === 'string';
}
