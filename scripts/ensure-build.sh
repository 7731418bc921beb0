#!/bin/sh
# Makes `npm start` and `npm test` work on a fresh clone: npm dependencies, TypeScript, Debian packages, then the guests.
set -e
cd "$(dirname "$0")/.."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  echo "lightvm needs Node.js 20.19 or newer; this is $(node --version)" >&2; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
npx tsc -p tsconfig.json >&2
# The CLI as one pre-compiled file: starts several times faster under the lab's emulated CPU.
node scripts/bundle-cli.mjs >&2
# Guests compile against Xen's headers: the lab installs its Debian packages (as root) before they build.
node dist/lab/cli.js install >&2
# The lab boots lightvm's patched hypervisor (noxs): built once (a few minutes), then reused.
sh xen-patches/build.sh >&2
sh scripts/build-native.sh >&2
make -s -C guests >&2
