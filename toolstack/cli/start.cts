// Starts the chaos CLI fast: runs the one-file bundle of the CLI with the V8 code cache made at build time, or else the ES modules.
//
// Under an emulated CPU (the lab) Node spends seconds reading and compiling the hundreds of modules
// behind the CLI (yargs alone is ~80); one pre-compiled file starts several times faster. The bundle
// is made by scripts/bundle-cli.mjs from dist/, so it is only used while it is newer than the last
// TypeScript build: a stale bundle is never run.
import fs = require('node:fs');
import path = require('node:path');
import vm = require('node:vm');
import Module = require('node:module');

const BUNDLE = path.join(__dirname, 'chaos.bundle.cjs');
/** LIGHTVM_CLI_TIMES=1: the same `chaos-time` lines as context.ts's mark() (this file is not bundled). */
const TIMES = process.env.LIGHTVM_CLI_TIMES === '1';
function mark(what: string): void {
  if (TIMES) process.stderr.write(`chaos-time ${performance.now().toFixed(1)} ${what}\n`);
}
mark('start.cjs running');
const CACHE = `${BUNDLE}.v8cache`;
/** tsc rewrites this file whenever it emits: a bundle older than it may be stale. */
const BUILD_INFO = path.join(__dirname, '..', '..', '.tsbuildinfo');

function mtime(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function bundleIsFresh(): boolean {
  const b = mtime(BUNDLE);
  return b !== undefined && b >= (mtime(BUILD_INFO) ?? 0);
}

function runBundle(): void {
  // Keep the line numbers of stack traces: the shebang becomes an empty comment.
  const source = fs.readFileSync(BUNDLE, 'utf8').replace(/^#!.*/, '//');
  let cachedData: Buffer | undefined;
  try {
    // LIGHTVM_NO_CODE_CACHE=1: compile as if there were none (to measure what the cache is worth).
    if (process.env.LIGHTVM_NO_CODE_CACHE !== '1') cachedData = fs.readFileSync(CACHE);
  } catch {
    // No cache (yet): V8 compiles as usual.
  }
  // import() inside the bundle (of a Node built-in, say) resolves as it would in a module of the main context.
  // (Where this Node lacks the constant, such an import() throws; the CLI imports built-ins statically.)
  const importModuleDynamically = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  mark('bundle read');
  const script = new vm.Script(Module.wrap(source), { filename: BUNDLE, cachedData, ...(importModuleDynamically !== undefined ? { importModuleDynamically } : {}) });
  mark(`bundle compiled (code cache ${cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used'})`);
  if (process.env.LIGHTVM_WRITE_CODE_CACHE === '1') {
    // Build time: after a run (so that the functions it compiled lazily are in it), save the cache.
    process.once('exit', () => {
      const tmp = `${CACHE}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, CACHE);
    });
  }
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  const mod = { exports: {}, filename: BUNDLE, id: BUNDLE, loaded: false };
  run.call(mod.exports, mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, __dirname);
}

if (process.env.LIGHTVM_NO_BUNDLE !== '1' && bundleIsFresh()) runBundle();
else {
  mark('bundle stale, missing or off: the ES modules');
  void import('./main.js');
}
