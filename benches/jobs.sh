#!/usr/bin/env bash
# The overhead of a gate run as a Kubernetes Job (on the Kubernetes double) against the same run
# in process, measured in one run. TOLLGATE_BENCH_ROUNDS (default 20) rounds of each.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --locked -p tollgate --bench jobs "$@"
