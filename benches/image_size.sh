#!/usr/bin/env bash
# Estimates the uncompressed size of the two container images from their parts, since no
# container daemon runs here to build them (docs/install/kubernetes.md#images):
#   base     the Debian 12 packages gcr.io/distroless/cc-debian12 is made of, by their installed
#            size on this (Debian 12) machine; distroless drops their docs, so this is an upper bound
#   git      what scripts/image-git-runtime collects (git, its https helper, ssh, sh, libraries)
#   binary   the stripped release binary, as scripts/build-release lays it out (built here, with
#            the release profile, into ~/.cache/tollgate/release-target; a first build takes long)
#   torch    libtorch and the CUDA libraries of the PyTorch wheel (scripts/torch-env's venv), and
#            the torch binary's extra size over the slim one
# Usage: benches/image_size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${TOLLGATE_CACHE:-$HOME/.cache/tollgate}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

base_kb=$(dpkg-query -W -f='${Installed-Size}\n' base-files netbase tzdata ca-certificates libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 | awk '{ s += $1 } END { print s }')
base=$((base_kb * 1024))
scripts/image-git-runtime "$tmp/git" >/dev/null
git_bytes=$(cat "$tmp/git.bytes")
CARGO_TARGET_DIR=$CACHE/release-target scripts/build-release "$tmp/slim" 2>/dev/null
bin=$(stat -c %s "$tmp/slim/usr/local/bin/tollgate")
slim=$((base + git_bytes + bin))
echo "base (distroless cc-debian12, upper bound): $(mb "$base")"
echo "git runtime:                                $(mb "$git_bytes")"
echo "tollgate binary (release, stripped):        $(mb "$bin")"
echo "slim image:                                 $(mb "$slim")"
if [ "${1:-}" != --no-torch ]; then
  CARGO_TARGET_DIR=$CACHE/release-target scripts/build-release --torch "$tmp/torch" 2>/dev/null
  tbin=$(stat -c %s "$tmp/torch/usr/local/bin/tollgate")
  tlib=$(du -sb "$tmp/torch/usr/lib/tollgate" | cut -f1)
  echo "tollgate binary with torch (stripped):      $(mb "$tbin")"
  echo "libtorch + CUDA libraries:                  $(mb "$tlib")"
  echo "torch image:                                $(mb $((base + git_bytes + tbin + tlib)))"
fi
