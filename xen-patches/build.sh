#!/bin/sh
# Builds lightvm's patched Xen hypervisor: Debian's xen source through apt, the noxs patch series, the hypervisor only.
#
# Usage: xen-patches/build.sh [--print-path | --check | --force]
#   prints, on its last line of stdout, the hypervisor image for `lab up --xen` (an ELF that QEMU's
#   multiboot loader boots, like the gunzipped /boot/xen-4.17-amd64.gz).
#   --print-path  only print where the image is (or would be), build nothing
#   --check       build nothing; exit 0 (and print the path) if the image is built from the current
#                 inputs, 1 if it is missing or stale
#   --force       rebuild even when the inputs have not changed
# Environment: LIGHTVM_XEN_CACHE (default xen-patches/.cache), LIGHTVM_XEN_SOURCE_VERSION (a Debian
# version of the xen source package to use instead of the newest one that downloads),
# LIGHTVM_XEN_JOBS (make -j, default 2).
#
# Needs: apt-get, dpkg-source (dpkg-dev), xz, patch, gcc, make, flex, bison, python3, and
# /boot/xen-4.17-amd64.config (xen-hypervisor-4.17-amd64): Debian's own configuration is reused.
# As root it installs the build tools it lacks; otherwise it says which to install.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${LIGHTVM_XEN_CACHE:-$here/.cache}
image=$cache/xen-noxs
stamp=$cache/xen-noxs.inputs
jobs=${LIGHTVM_XEN_JOBS:-2}
config=/boot/xen-4.17-amd64.config
python=/usr/bin/python3
# Marks the build in `xl info` (xen_extra), so that a running lab shows which hypervisor it booted.
vendor=-lightvm-noxs

force=no
check=no
for arg in "$@"; do
  case $arg in
    --print-path) echo "$image"; exit 0 ;;
    --check) check=yes ;;
    --force) force=yes ;;
    *) echo "xen-patches/build.sh: unknown argument $arg (use --print-path, --check or --force)" >&2; exit 2 ;;
  esac
done

say() { echo "xen-patches: $*" >&2; }
die() { say "$*"; exit 1; }

# The build's inputs: the series, the ABI header, this script and Debian's configuration. An image
# built from the same inputs is reused.
[ -f "$config" ] || die "$config is missing: install xen-hypervisor-4.17-amd64 (\`node dist/lab/cli.js install\` does)"
patches=$(ls "$here"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null || true)
[ -n "$patches" ] || die "no patches (NNNN-*.patch) in $here"
inputs=$(cat $patches "$here/include/noxs.h" "$0" "$config" | sha256sum | cut -d' ' -f1)${LIGHTVM_XEN_SOURCE_VERSION:+-$LIGHTVM_XEN_SOURCE_VERSION}
if [ "$force" = no ] && [ -f "$image" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
  [ "$check" = yes ] || say "up to date: $image"
  echo "$image"
  exit 0
fi
if [ "$check" = yes ]; then
  if [ -f "$image" ]; then say "$image is stale: the patches, the header or Debian's configuration changed since it was built"
  else say "$image is not built"; fi
  exit 1
fi

# Build tools of the hypervisor alone (not of Xen's tools, which Debian's packages provide).
need=""
for t in apt-get:apt dpkg-source:dpkg-dev xz:xz-utils patch:patch gcc:gcc make:make flex:flex bison:bison; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
[ -x "$python" ] || need="$need python3"
if [ -n "$need" ]; then
  [ "$(id -u)" = 0 ] || die "missing build tools; install them with: sudo apt-get install --no-install-recommends$need"
  say "installing build tools:$need"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >&2
fi

mkdir -p "$cache"
# A private apt configuration with deb-src lines: the host's sources stay as they are.
apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/archives/partial"
cat > "$apt/sources.list" <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
aptopts="-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=$apt/none -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q"
say "reading Debian's source index"
# shellcheck disable=SC2086
apt-get $aptopts update >&2 || die "apt-get update of the deb-src index failed"

# Every 4.17 version of the source package that apt knows, newest first; the first that downloads
# wins (the archive's index may name a security release whose files are not there).
if [ -n "${LIGHTVM_XEN_SOURCE_VERSION:-}" ]; then
  versions=$LIGHTVM_XEN_SOURCE_VERSION
else
  # shellcheck disable=SC2086
  versions=$(apt-cache $aptopts showsrc xen | sed -n 's/^Version: //p' | grep '^4\.17\.' | sort -u -r -V)
  [ -n "$versions" ] || die "apt knows no 4.17 version of the xen source package"
fi
src=$cache/src
version=""
for v in $versions; do
  dl=$src/download-$v
  mkdir -p "$dl"
  say "trying xen source $v"
  # shellcheck disable=SC2086
  if (cd "$dl" && apt-get $aptopts source --download-only "xen=$v" >&2); then version=$v; break; fi
  say "xen $v does not download; trying an older one"
  rm -rf "$dl"
done
[ -n "$version" ] || die "no version of the xen source package downloads (tried: $(echo $versions))"

# A fresh tree every time: the series applies to Debian's source exactly as shipped.
tree=$src/xen-$version
rm -rf "$tree"
say "unpacking xen $version (Debian's patches applied)"
dpkg-source --no-check -x "$src/download-$version"/xen_*.dsc "$tree" >/dev/null 2>&1 \
  || die "dpkg-source could not unpack xen $version"
for p in $patches; do
  say "applying $(basename "$p")"
  # patch(1), not git apply: inside a git work tree (this project's) git apply skips paths silently.
  patch -d "$tree" -p1 --batch --forward --quiet -i "$p" >&2 || die "$(basename "$p") does not apply to xen $version"
done
# The patch carries the ABI header into Xen's public headers: it must be this directory's copy.
cmp -s "$tree/xen/include/public/noxs.h" "$here/include/noxs.h" \
  || die "xen/include/public/noxs.h as patched differs from xen-patches/include/noxs.h: regenerate 0001 from the header"

say "building the hypervisor (make -j$jobs; a few minutes)"
cp "$config" "$tree/xen/.config"
log=$cache/build.log
if ! { make -C "$tree/xen" olddefconfig PYTHON="$python" && make -C "$tree/xen" -j"$jobs" PYTHON="$python" XEN_VENDORVERSION="$vendor"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "the hypervisor did not build (whole log: $log)"
fi
cp "$tree/xen/xen" "$image.tmp"
mv "$image.tmp" "$image"
echo "$inputs" > "$stamp"
echo "$version" > "$cache/xen-noxs.source-version"
say "built $image from xen $version with $(echo $patches | wc -w) patch(es)"
echo "$image"
