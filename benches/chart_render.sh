#!/usr/bin/env bash
# Measures `helm template` of charts/tollgate (wall time per render, N runs per values file;
# median, min, max) with the helm that scripts/deploy-env installs.
# Usage: benches/chart_render.sh [RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deploy-env
source scripts/deploy-env
runs=${1:-20}
"$TOLLGATE_HELM" version --short
for values in charts/tollgate/ci/*-values.yaml; do
  times=()
  for _ in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    "$TOLLGATE_HELM" template tollgate charts/tollgate --namespace tollgate-system --values "$values" >/dev/null
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(echo "$sorted" | sed -n "$(((runs + 1) / 2))p")
  echo "$(basename "$values"): median ${median} ms, min $(echo "$sorted" | head -n1) ms, max $(echo "$sorted" | tail -n1) ms over $runs renders"
done
