// Bundles the built chaos CLI (dist/) into one file with its V8 code cache, which toolstack/cli/start.cts runs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
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
await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The addon is loaded from native/build at run time; pino is required lazily, only when logging is on.
  external: ['*.node'],
  // The bundle sits in the same directory as main.js, so paths made from import.meta.url stay right.
  define: { 'import.meta.url': '__chaosBundleUrl' },
  banner: { js: "const __chaosBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
// One run that touches the argument parser and the help text, then saves what V8 compiled.
const r = spawnSync(process.execPath, [start, '--help'], { env: { ...process.env, LIGHTVM_WRITE_CODE_CACHE: '1' }, encoding: 'utf8' });
if (r.status !== 0 || !r.stdout.includes('chaos <command>')) {
  console.error(`bundle-cli: the bundled CLI does not run (exit ${r.status}):\n${r.stderr}`);
  process.exit(1);
}
if (!fs.existsSync(`${bundle}.v8cache`)) {
  console.error('bundle-cli: no code cache was written');
  process.exit(1);
}
