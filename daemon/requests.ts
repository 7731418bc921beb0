// One parser per chaosd request body: JSON text in, a typed value out, or REQUEST_INVALID/CONFIG_* naming the field; nothing is done before a request parses.
import { ChaosError } from '../toolstack/errors.js';
import { parseJsonConfig, parseObjectConfig } from '../toolstack/config/index.js';
import type { DomainConfig } from '../toolstack/config/domain-config.js';

/** The most VMs one batch request may create. */
export const MAX_BATCH = 1000;

type Kind = 'boolean' | 'string' | 'int' | 'number' | 'object' | 'array';
type Spec = Record<string, { kind: Kind; required?: boolean; min?: number; max?: number }>;

const bad = (message: string, key?: string) => new ChaosError('REQUEST_INVALID', message, key ? { key } : {});

/** Parses the body as one JSON object (an empty body is `{}`). */
export function parseBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('the request body must be one JSON object');
  return v as Record<string, unknown>;
}

/** Checks the fields of a body against `spec`: no unknown field, each of its kind, required ones present. */
function fields(body: Record<string, unknown>, spec: Spec, what: string): void {
  for (const k of Object.keys(body)) {
    if (!(k in spec)) throw bad(`${what} takes no field ${JSON.stringify(k)} (it takes: ${Object.keys(spec).join(', ') || 'none'})`, k);
  }
  for (const [k, s] of Object.entries(spec)) {
    const v = body[k];
    if (v === undefined) {
      if (s.required) throw bad(`${what} needs the field ${JSON.stringify(k)}`, k);
      continue;
    }
    const ok = s.kind === 'array' ? Array.isArray(v)
      : s.kind === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v)
      : s.kind === 'int' ? Number.isInteger(v)
      : typeof v === s.kind;
    if (!ok) throw bad(`${what}: ${k} must be ${s.kind === 'int' ? 'a whole number' : `a${/^[aeio]/.test(s.kind) ? 'n' : ''} ${s.kind}`}`, k);
    if (typeof v === 'number' && ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max))) {
      throw bad(`${what}: ${k} must be from ${s.min} to ${s.max}, not ${v}`, k);
    }
  }
}

/** A domain config given as a JSON object of xl keys (docs/config.md), validated like a .json file. */
export function parseConfig(v: unknown, where = 'request config', devMethod?: DomainConfig['devMethod']): DomainConfig {
  // The daemon's --dev-method is the default of a config that does not say.
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return parseJsonConfig(JSON.stringify(v, null, 1), where);
  const withDefault = devMethod !== undefined && !('dev_method' in v) ? { ...v, dev_method: devMethod } : v;
  // Already parsed (the body's JSON.parse): validated as it stands, its errors citing the lines of
  // the object printed one key per line, as the text parser would have.
  return parseObjectConfig(withDefault as Record<string, unknown>, where);
}

export interface CreateRequest { config: DomainConfig; paused: boolean }

export function parseCreate(body: Record<string, unknown>, devMethod?: DomainConfig['devMethod']): CreateRequest {
  fields(body, { config: { kind: 'object', required: true }, paused: { kind: 'boolean' } }, 'create');
  return { config: parseConfig(body.config, undefined, devMethod), paused: body.paused === true };
}

export interface BatchRequest { configs: DomainConfig[]; paused: boolean }

/** A batch: {"configs": [...]} or {"config": {...}, "count": N} (named <name>-1 .. <name>-N). */
export function parseBatch(body: Record<string, unknown>, devMethod?: DomainConfig['devMethod']): BatchRequest {
  fields(body, {
    configs: { kind: 'array' }, config: { kind: 'object' }, count: { kind: 'int', min: 1, max: MAX_BATCH }, paused: { kind: 'boolean' },
  }, 'batch create');
  const paused = body.paused === true;
  if (body.configs !== undefined) {
    if (body.config !== undefined || body.count !== undefined) throw bad('batch create takes either "configs" or "config" with "count", not both', 'configs');
    const list = body.configs as unknown[];
    if (list.length < 1 || list.length > MAX_BATCH) throw bad(`batch create: configs must hold 1 to ${MAX_BATCH} configs, not ${list.length}`, 'configs');
    const configs = list.map((c, i) => parseConfig(c, `configs[${i}]`, devMethod));
    const names = new Set<string>();
    for (const c of configs) {
      if (names.has(c.name)) throw bad(`batch create: the name ${JSON.stringify(c.name)} is given twice`, 'configs');
      names.add(c.name);
    }
    return { configs, paused };
  }
  if (body.config === undefined || body.count === undefined) throw bad('batch create needs "configs", or "config" and "count"', 'config');
  const base = parseConfig(body.config, undefined, devMethod);
  if (base.uuid !== undefined) throw bad('batch create: a config with a uuid cannot be copied', 'config');
  const count = body.count as number;
  const configs = Array.from({ length: count }, (_, i) => parseConfig({ ...(body.config as object), name: `${base.name}-${i + 1}` }, undefined, devMethod));
  return { configs, paused };
}

export interface ShutdownRequest { reboot: boolean; waitSec?: number }

export function parseShutdown(body: Record<string, unknown>): ShutdownRequest {
  fields(body, { reboot: { kind: 'boolean' }, waitSec: { kind: 'number', min: 0.1, max: 3600 } }, 'shutdown');
  return { reboot: body.reboot === true, ...(body.waitSec !== undefined ? { waitSec: body.waitSec as number } : {}) };
}

const absolute = (v: unknown, key: string, what: string): string => {
  const s = v as string;
  if (!s.startsWith('/') || s.includes('\0') || s.length > 4096) throw bad(`${what}: ${key} must be an absolute path`, key);
  return s;
};

export interface SaveRequest { file: string; checkpoint: boolean; live: boolean; timeoutSec: number }

export function parseSave(body: Record<string, unknown>): SaveRequest {
  fields(body, { file: { kind: 'string', required: true }, checkpoint: { kind: 'boolean' }, live: { kind: 'boolean' }, timeoutSec: { kind: 'number', min: 0.1, max: 3600 } }, 'save');
  return { file: absolute(body.file, 'file', 'save'), checkpoint: body.checkpoint === true, live: body.live === true, timeoutSec: (body.timeoutSec as number | undefined) ?? 30 };
}

export interface RestoreRequest { file: string; name?: string; paused: boolean }

export function parseRestore(body: Record<string, unknown>): RestoreRequest {
  fields(body, { file: { kind: 'string', required: true }, name: { kind: 'string' }, paused: { kind: 'boolean' } }, 'restore');
  return { file: absolute(body.file, 'file', 'restore'), ...(body.name !== undefined ? { name: body.name as string } : {}), paused: body.paused === true };
}

export interface MigrateRequest { host: string; port?: number; tokenFile?: string; live: boolean }

export function parseMigrate(body: Record<string, unknown>): MigrateRequest {
  fields(body, { host: { kind: 'string', required: true }, port: { kind: 'int', min: 1, max: 65535 }, tokenFile: { kind: 'string' }, live: { kind: 'boolean' } }, 'migrate');
  const host = body.host as string;
  if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(host)) throw bad('migrate: host must be a host name or an address', 'host');
  return {
    host, ...(body.port !== undefined ? { port: body.port as number } : {}),
    ...(body.tokenFile !== undefined ? { tokenFile: absolute(body.tokenFile, 'tokenFile', 'migrate') } : {}), live: body.live === true,
  };
}

export function parseEmpty(body: Record<string, unknown>, what: string): void {
  fields(body, {}, what);
}
