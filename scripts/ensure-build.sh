#!/bin/sh
# Makes `npm start` and `npm test` work on a fresh clone: installs npm dependencies when needed, then builds.
set -e
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
npm run -s build >&2
