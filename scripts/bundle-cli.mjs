// Bundles the built chaos CLI (dist/) into one file with its V8 code cache, which toolstack/cli/start.cts runs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = path.join(root, 'dist', 'toolstack', 'cli');
const entry = path.join(cliDir, 'main.js');
const start = path.join(cliDir, 'start.cjs');
const bundle = path.join(cliDir, 'chaos.bundle.cjs');

if (!fs.existsSync(entry) || !fs.existsSync(start)) {
  console.error('bundle-cli: dist/toolstack/cli is not built: run `npx tsc -p tsconfig.json` first');
  process.exit(1);
}
fs.rmSync(`${bundle}.v8cache`, { force: true });

/**
 * yargs's shim finds "the program's package.json" (for --version, which chaos turns off, but only
 * after yargs looked) from its own path up to node_modules; inside the bundle that path has no
 * node_modules, so it searched up from the working directory and, finding none, built an
 * AssertionError: seconds under an emulated CPU. Its path is given as where yargs was bundled from.
 */
const yargsShimFile = path.join(root, 'node_modules', 'yargs', 'lib', 'platform-shims', 'esm.mjs');
const yargsShimRel = path.relative(cliDir, yargsShimFile).split(path.sep).join('/');
const yargsShim = {
  name: 'yargs-shim-path',
  setup(b) {
    b.onLoad({ filter: /yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', '__chaosYargsShimUrl'), loader: 'js' };
    });
  },
};

/**
 * string-width (cliui's and yargs's copies) builds an Intl.Segmenter and Unicode-property regular
 * expressions when it is loaded: most of the bundle's own start-up (~200 ms on a host, seconds
 * under an emulated CPU), yet only help text needs widths. Its importers get a function that
 * answers printable ASCII itself and loads it on the first call with anything else.
 */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData?.real) return undefined;
      const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: { real: true } });
      if (r.errors.length) return { errors: r.errors };
      return { path: r.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      // Printable ASCII is one column a character, as string-width counts it: help text needs no Unicode tables.
      contents: `let real;\nexport default function stringWidth(text, options) {\n  if (typeof text === 'string' && /^[\\x20-\\x7e]*$/.test(text)) return text.length;\n  real ??= require(${JSON.stringify(args.path)}).default;\n  return real(text, options);\n}\n`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The addon is loaded from native/build at run time; pino is required lazily, only when logging is on.
  external: ['*.node'],
  plugins: [yargsShim, lazyStringWidth],
  // Less to read and to hash at each start; names are kept for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  // The bundle sits in the same directory as main.js, so paths made from import.meta.url stay right.
  define: { 'import.meta.url': '__chaosBundleUrl' },
  banner: {
    js: "const __chaosBundleUrl = require('node:url').pathToFileURL(__filename).href;\n"
      + `const __chaosYargsShimUrl = require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(yargsShimRel)})).href;`,
  },
  logLevel: 'warning',
});
// The bundle runs as a vm.Script (toolstack/cli/start.cts, for its code cache), where Node 20 has no
// import(): a dynamic import left in it (of a built-in, which esbuild keeps external) would throw at run time.
const dynamic = fs.readFileSync(bundle, 'utf8').match(/\bimport\((["'`])[^"'`]*\1\)/g);
if (dynamic) {
  console.error(`bundle-cli: the bundle keeps dynamic import()s, which fail in it: ${[...new Set(dynamic)].join(', ')}; load built-ins with require (createRequire) instead`);
  process.exit(1);
}
// Runs that touch the argument parser, the help text and the commands' paths; each starts from the
// cache the one before saved and saves it again with what V8 compiled meanwhile, so the cache holds
// the code of all of them (under an emulated CPU, compiling a function on first call is slow).
const cacheRun = (args) => spawnSync(process.execPath, [start, ...args], { env: { ...process.env, LIGHTVM_WRITE_CODE_CACHE: '1' }, encoding: 'utf8', timeout: 60_000 });
const r = cacheRun(['--help']);
if (r.status !== 0 || !r.stdout.includes('chaos <command>')) {
  console.error(`bundle-cli: the bundled CLI does not run (exit ${r.status}):\n${r.stderr}`);
  process.exit(1);
}
// These may fail (no Xen where the build runs, no such kernel), and change nothing: list reads,
// and the create stops at the missing kernel, before any Xen call.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-cache-'));
try {
  const cfg = path.join(scratch, 'warm-up.cfg');
  fs.writeFileSync(cfg, `name = "chaos-cache-warm-up"\ntype = "pv"\nkernel = "${path.join(scratch, 'no-such-kernel')}"\nmemory = 4\nvcpus = 1\non_crash = "destroy"\n`);
  for (const args of [['list'], ['create', '--no-daemon', '--no-monitor', cfg, 'memory=8']]) cacheRun(['--state-dir', scratch, ...args]);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
if (!fs.existsSync(`${bundle}.v8cache`)) {
  console.error('bundle-cli: no code cache was written');
  process.exit(1);
}
