#!/bin/sh
# Builds the Xen addon (native/build/Release/xen.node) with node-gyp against this Node's own headers, offline and incrementally, then noxsd (native/build/noxsd).
set -e
cd "$(dirname "$0")/.."
for h in xenctrl.h xenguest.h xenstore.h xenforeignmemory.h xenevtchn.h xentoollog.h xencall.h xengnttab.h; do
  if [ ! -f "/usr/include/$h" ]; then
    echo "build-native: /usr/include/$h is missing: install Xen's development files (Debian: libxen-dev; \`node dist/lab/cli.js install\` does it)" >&2
    exit 1
  fi
done
# The headers of the Node that runs us: node-gyp must never try to download them.
nodedir=$(dirname "$(dirname "$(command -v node)")")
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "build-native: Node's headers are not in $nodedir/include/node (Debian: libnode-dev)" >&2
  exit 1
fi
gyp="$PWD/node_modules/.bin/node-gyp"
if [ ! -x "$gyp" ]; then
  echo "build-native: node-gyp is not installed: run \`npm ci\`" >&2
  exit 1
fi
cd native
# `build` runs make, which recompiles only what changed (and re-runs gyp when binding.gyp did);
# `rebuild` configures from scratch, for a fresh tree.
if [ -f build/Makefile ]; then step=build; else step=rebuild; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$gyp" "$step" --nodedir="$nodedir" --jobs=max --loglevel=warn >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-native: node-gyp $step failed (output above)" >&2
  exit 1
fi
# Quiet on success, except for compiler warnings, which the code is meant not to have.
grep -A3 'warning:' "$log" >&2 || true
# noxsd, the dom0 noxs back-end (docs/noxs.md), after node-gyp: a `rebuild` empties build/ first.
if ! make -s -C noxsd OUT=../build >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-native: noxsd failed to build (output above)" >&2
  exit 1
fi
grep -A3 'warning:' "$log" >&2 || true
