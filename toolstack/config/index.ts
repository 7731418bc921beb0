// The configuration layer's entry: xl or JSON text (or a file) plus xl-style overrides in, one validated DomainConfig out.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ChaosError } from '../errors.js';
import { validateDomainConfig, type DomainConfig, type InputSetting } from './domain-config.js';
import { parseJsonSettings } from './json-cfg.js';
import { parseXl } from './xl-cfg.js';

export {
  CONFIG_KEYS, LIMITS, checkFiles, domainNameProblem, validateDomainConfig,
  type CpuSet, type DevMethod, type DiskConfig, type DiskFormat, type DomainConfig, type InputSetting,
  type ShutdownAction, type VifConfig, type VifRate,
} from './domain-config.js';
export { parseXl, type XlSetting, type XlValue } from './xl-cfg.js';
export { parseJsonSettings } from './json-cfg.js';
export { MAX_CPU, parseCpuList } from './cpu-list.js';
export { parseVifSpec } from './vif-spec.js';
export { parseDiskSpec, vbdNumber } from './disk-spec.js';

/**
 * Applies xl's command-line overrides (`xl create guest.cfg 'memory=64' 'name="x"'`). Each override
 * is xl syntax, like a line of the file, and may hold several settings separated by ";". A key it
 * sets replaces the file's setting in place, or is added at the end; of two overrides of one key, the
 * later wins. Settings from an override carry it as their origin, so that errors name it. A malformed
 * override throws CONFIG_SYNTAX naming it.
 */
export function applyOverrides(settings: readonly InputSetting[], overrides: readonly string[]): InputSetting[] {
  const out = [...settings];
  for (const text of overrides) {
    for (const s of parseXl(text, '', { origin: text })) {
      const i = out.findIndex((o) => o.key === s.key);
      if (i >= 0) out[i] = s;
      else out.push(s);
    }
  }
  return out;
}

/** Parses and validates an xl configuration; `file` names it in errors. */
export function parseXlConfig(text: string, file: string, overrides: readonly string[] = []): DomainConfig {
  return validateDomainConfig(applyOverrides(parseXl(text, file), overrides), file);
}

/**
 * The settings of a configuration that is already a JSON object (an API request's), each with the
 * line and column it has in the object printed one key per line (JSON.stringify(v, null, 1)): what
 * parseJsonSettings would give for that text, without reading it character by character again.
 */
export function settingsOfObject(v: Record<string, unknown>): InputSetting[] {
  const lines = (x: unknown) => (JSON.stringify(x, null, 1) ?? '').split('\n').length;
  const out: InputSetting[] = [];
  let line = 2;
  for (const key of Object.keys(v)) {
    const value = v[key];
    if (value === undefined) continue;
    const s: InputSetting = { key, value, line, column: 2 };
    if (Array.isArray(value)) {
      const items: number[] = [];
      let at = line + 1;
      for (const item of value) { items.push(at); at += lines(item); }
      s.itemLines = items;
    }
    out.push(s);
    line += lines(value);
  }
  return out;
}

/** Validates a configuration given as a JSON object (see settingsOfObject); `where` names it in errors. */
export function parseObjectConfig(v: Record<string, unknown>, where: string): DomainConfig {
  return validateDomainConfig(settingsOfObject(v), where);
}

/** Parses and validates a JSON configuration: one object with the xl keys, checked the same way. */
export function parseJsonConfig(text: string, file: string, overrides: readonly string[] = []): DomainConfig {
  return validateDomainConfig(applyOverrides(parseJsonSettings(text, file), overrides), file);
}

/**
 * Reads a configuration file: JSON when its name ends in .json (any case), xl syntax otherwise.
 * Errors name the file as given. Throws CONFIG_NOT_FOUND when it is missing or unreadable.
 */
export async function loadConfig(file: string, overrides: readonly string[] = []): Promise<DomainConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist'
      : code === 'EISDIR' ? 'is a directory, not a file'
      : `cannot be read (${code ?? (err as Error).message})`;
    throw new ChaosError('CONFIG_NOT_FOUND', `the configuration file ${file} ${reason}`, { file, cause: err });
  }
  return path.extname(file).toLowerCase() === '.json'
    ? parseJsonConfig(text, file, overrides)
    : parseXlConfig(text, file, overrides);
}
