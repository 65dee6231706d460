#!/usr/bin/env bash
# Audit trail benchmarks (issue #4): append overhead vs plain inserts on SQLite and PostgreSQL,
# verify throughput vs sha256sum over the same bytes, export and verify-bundle of N events with
# time and peak memory. Usage: benches/audit.sh [N]   (default 1000000)
# PG_N (default N/10) events are seeded into PostgreSQL for its verify line; PG_N=0 skips it.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p tollgate-audit-bench
B=$CARGO_TARGET_DIR/release/tollgate-audit-bench
PG_ADMIN=${TOLLGATE_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-audit-bench.XXXXXX")
cleanup() {
  rm -rf "$WORK"
  for db in tollgate_bench_append_1 tollgate_bench_append_100 tollgate_bench_verify; do
    psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
pgdb() { psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null 2>&1; echo "$PG_BASE/$1"; }
peak() { # command... : runs it under /usr/bin/time -v, prints wall time and peak RSS, keeps the wall seconds in $WALL
  /usr/bin/time -v "$@" 2> "$WORK/time.txt"
  awk -F': ' '/Elapsed \(wall clock\)/{w=$2} /Maximum resident set size/{m=$2} END{printf "  wall %s, peak RSS %.1f MiB\n", w, m/1024}' "$WORK/time.txt"
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$WORK/time.txt")
}

echo "== append overhead (best of 3, alternating plain and audit append)"
for batch in 1 100; do
  n=$(( batch == 1 ? 1000 : 20000 ))
  "$B" append "sqlite://$WORK/append-$batch.db" "$n" "$batch"
  "$B" append "$(pgdb tollgate_bench_append_$batch)" "$n" "$batch"
done

echo "== $N events (SQLite)"
"$B" seed "sqlite://$WORK/big.db" "$N" "$WORK/key"
echo "scan (rows only, no checks):"; peak "$B" scan "sqlite://$WORK/big.db"
echo "verify:"; peak "$B" verify "sqlite://$WORK/big.db" "$WORK/key"; VERIFY_WALL=$WALL
echo "export:"; peak "$B" export "sqlite://$WORK/big.db" "$WORK/key" "$WORK/bundle"
ls -l "$WORK/bundle" | awk 'NR>1{printf "  %-20s %12d bytes\n", $9, $5}'
BYTES=$(stat -c %s "$WORK/bundle/events.jsonl")
echo "sha256sum of events.jsonl ($BYTES bytes):"; peak sha256sum "$WORK/bundle/events.jsonl"; SHA_WALL=$WALL
awk -v v="$VERIFY_WALL" -v s="$SHA_WALL" -v b="$BYTES" 'BEGIN{printf "verify vs sha256sum (wall, same bytes): %.2fs vs %.2fs = %.2fx (%.0f vs %.0f MB/s; target >= 0.6x)\n", v, s, s/v, b/v/1e6, b/s/1e6}'
echo "verify-bundle:"; peak "$B" verify-bundle "$WORK/bundle" "$WORK/key"
echo "python verify_bundle.py:"; peak python3 docs/audit/verify_bundle.py "$WORK/bundle"

PG_N=${PG_N:-$(( N / 10 ))}
if (( PG_N > 0 )); then
  echo "== $PG_N events (PostgreSQL)"
  PG_URL=$(pgdb tollgate_bench_verify)
  "$B" seed "$PG_URL" "$PG_N" "$WORK/pgkey"
  echo "scan (rows only, no checks):"; peak "$B" scan "$PG_URL"
  echo "verify:"; peak "$B" verify "$PG_URL" "$WORK/pgkey"
fi
