#!/bin/sh
# fetch.sh: unpacks Debian's lwip source package into guests/lwip/src (git-ignored), once; needs apt and dpkg-dev, no root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/src"
stamp="$dest/.fetched"
[ -f "$stamp" ] && exit 0

# A private apt setup with a deb-src line, so that neither the machine's sources nor root are needed.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "deb-src http://deb.debian.org/debian $suite main" > "$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent \
 -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=$(id -un) -q"
command -v dpkg-source >/dev/null || { echo "fetch.sh: dpkg-source is missing: apt-get install dpkg-dev" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get $apt_opts update >/dev/null
mkdir -p "$work/get"
# shellcheck disable=SC2086
(cd "$work/get" && apt-get $apt_opts source lwip >/dev/null 2>&1) || {
  echo "fetch.sh: apt-get source lwip failed (is deb.debian.org reachable?)" >&2; exit 1; }
tree=$(find "$work/get" -mindepth 1 -maxdepth 1 -type d -name 'lwip-*' | head -1)
[ -n "$tree" ] && [ -f "$tree/src/core/tcp.c" ] || { echo "fetch.sh: unexpected lwip source layout" >&2; exit 1; }
rm -rf "$dest"
mv "$tree" "$dest"
ls "$work/get"/*.dsc | sed 's|.*/||' > "$stamp"
