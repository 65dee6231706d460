#!/usr/bin/env bash
# Runs the admission TLS benchmark that scripts/bench-binary built into .bench/, on a machine
# without cargo (the GPU machine `device` lends: 16 cores, nothing else running). From the repo
# root, with .bench/ present:
#   scripts/bench-admission-prebuilt.sh [RUNS]        (default 3; TOLLGATE_BENCH_* as the bench)
# Each run's output is printed and, when $OUT is set, written to $OUT/admission_tls-<n>.txt.
# Exits 2 when it cannot run (no .bench/, no git, the build folder's path cannot be made).
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
[ -s .bench/admission_tls.gz ] && [ -s .bench/BUILD ] || { echo "no .bench/: run scripts/bench-binary first (here, not there)" >&2; exit 2; }
command -v git > /dev/null || { echo "the bench commits examples/ to a Git repo: git is needed" >&2; exit 2; }
cat .bench/BUILD
root=$(sed -n 's/^root //p' .bench/BUILD)
# The bench finds examples/ and its fixture under the folder it was built in: point that
# folder at this tree when it is elsewhere.
if [ "$(cd "$root" 2> /dev/null && pwd -P)" != "$(pwd -P)" ]; then
  [ -e "$root" ] && { echo "$root exists and is not this tree" >&2; exit 2; }
  mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root" || { echo "cannot link $root to this tree" >&2; exit 2; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gzip -dc .bench/admission_tls.gz > "$tmp/admission_tls" && chmod +x "$tmp/admission_tls"
echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
status=0
for n in $(seq 1 "$RUNS"); do
  echo "== run $n of $RUNS"
  (cd webhooks && env -u RUST_BACKTRACE "$tmp/admission_tls" --bench) > "$tmp/run-$n.txt" 2>&1 || status=1
  cat "$tmp/run-$n.txt"
  [ -n "${OUT:-}" ] && cp "$tmp/run-$n.txt" "$OUT/admission_tls-$n.txt"
done
exit $status
