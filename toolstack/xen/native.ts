// The one module that loads the native Xen addon (native/build/Release/xen.node) and turns its errors into ChaosErrors.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChaosError } from '../errors.js';
import type { DevctlNative, NativeError, NetNative, XenNative } from './types.js';
import { decodeInfoList, decodeListChanges } from './info-list.js';

const EMPTY = Buffer.alloc(0);

/** Root of this project: the code runs from dist/toolstack/xen/, the sources sit in toolstack/xen/. */
const PROJECT_ROOT = (() => {
  const up = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.basename(up) === 'dist' ? path.dirname(up) : up;
})();

/** Where scripts/build-native.sh leaves the addon. */
export const NATIVE_ADDON_PATH = path.join(PROJECT_ROOT, 'native', 'build', 'Release', 'xen.node');

const BUILD_HINT = 'run `npm run build` (or scripts/build-native.sh), which needs Xen\'s development files (Debian: libxen-dev)';

let cached: XenNative | undefined;

/** The addon, loaded on first use and shared afterwards; ChaosError NATIVE_UNAVAILABLE if it is not built or cannot load here. */
export function loadNative(): XenNative {
  cached ??= loadNativeAt(NATIVE_ADDON_PATH);
  return cached;
}

/** The addon's devctl (noxs) functions; NATIVE_UNAVAILABLE when the addon was built before they existed. */
export function loadDevctl(): DevctlNative {
  const x = loadNative() as Partial<DevctlNative>;
  if (typeof x.devctl !== 'function' || typeof x.noxs !== 'object') {
    throw new ChaosError('NATIVE_UNAVAILABLE', `the native Xen addon ${NATIVE_ADDON_PATH} has no devctl (it predates noxs): ${BUILD_HINT}`);
  }
  return x as DevctlNative;
}

/** The addon's network functions (for xendevd); NATIVE_UNAVAILABLE when the addon was built before they existed. */
export function loadNet(): NetNative {
  const x = loadNative() as Partial<NetNative>;
  if (typeof x.ueventOpen !== 'function' || typeof x.netBridgeAddIf !== 'function') {
    throw new ChaosError('NATIVE_UNAVAILABLE', `the native Xen addon ${NATIVE_ADDON_PATH} has no network functions (it predates xendevd): ${BUILD_HINT}`);
  }
  return x as NetNative;
}

/** Loads the addon from `file`, uncached (tests use it to check the failures). */
export function loadNativeAt(file: string): XenNative {
  if (!fs.existsSync(file)) {
    throw new ChaosError('NATIVE_UNAVAILABLE', `the native Xen addon is not built (${file} is missing): ${BUILD_HINT}`);
  }
  let x: XenNative & {
    domainGetInfoListPacked?: (first: number, max: number) => Promise<Buffer>;
    domainListChangesPacked?: (previous: Buffer) => Promise<{ list: Buffer; added: Buffer; removed: Buffer }>;
  };
  try {
    x = createRequire(import.meta.url)(file) as typeof x;
  } catch (err) {
    // Typically the dynamic linker: no libxenctrl.so here, or an addon built for another Node ABI.
    throw new ChaosError(
      'NATIVE_UNAVAILABLE',
      `the native Xen addon ${file} cannot be loaded here (${(err as Error).message.split('\n')[0]}): it needs Xen's libraries (libxenctrl, libxenguest, libxenstore) and the Node it was built for; ${BUILD_HINT}`,
      { cause: err },
    );
  }
  // The list comes packed (one object per domain built through N-API is slow); decoded here, so
  // callers see DomainInfo objects. Idempotent: require() hands every caller the same exports.
  const packed = x.domainGetInfoListPacked;
  if (typeof packed !== 'function') {
    throw new ChaosError('NATIVE_UNAVAILABLE', `the native Xen addon ${file} predates the packed domain list: ${BUILD_HINT}`);
  }
  x.domainGetInfoList = (first, max) => packed(first, max).then(decodeInfoList);
  const changes = x.domainListChangesPacked;
  if (typeof changes !== 'function') {
    throw new ChaosError('NATIVE_UNAVAILABLE', `the native Xen addon ${file} predates domainListChanges: ${BUILD_HINT}`);
  }
  x.domainListChanges = (previous) => changes(previous?.packed ?? EMPTY).then(decodeListChanges);
  return x;
}

/** True for what the addon rejects with when a Xen call fails (not for argument errors). */
export function isNativeError(err: unknown): err is NativeError {
  if (!(err instanceof Error)) return false;
  const e = err as Partial<NativeError>;
  return typeof e.call === 'string' && typeof e.errno === 'number' && typeof e.code === 'string';
}

/**
 * A NativeError as the toolstack reports it: XEN_CALL, "<call> failed for domain <domid>: <strerror> (<code>)",
 * followed by the library's own words when it gave any. `domid` fills in when the error has none
 * (XenStore calls, for instance). Anything else is a bug on this side of the addon: INTERNAL.
 */
export function toChaosError(err: unknown, domid?: number): ChaosError {
  if (err instanceof ChaosError) return err;
  if (isNativeError(err)) {
    const d = err.domid ?? domid;
    const where = d === undefined ? '' : ` for domain ${d}`;
    const detail = err.detail ? `: ${err.detail}` : '';
    return new ChaosError('XEN_CALL', `${err.call} failed${where}: ${strerror(err)} (${err.code})${detail}`, {
      call: err.call, errno: err.errno, domid: d, cause: err,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new ChaosError('INTERNAL', `the toolstack passed the native addon something it refused: ${msg}`, { domid, cause: err });
}

/** The addon's message is "<call>: <strerror>[ (<detail>)]": the middle is errno's text. */
function strerror(err: NativeError): string {
  let m = err.message;
  if (m.startsWith(`${err.call}: `)) m = m.slice(err.call.length + 2);
  if (err.detail && m.endsWith(` (${err.detail})`)) m = m.slice(0, -(err.detail.length + 3));
  return m;
}
