#!/usr/bin/env bash
# Compares tollgate's fairness metrics with Fairlearn's MetricFrame on the same rows:
# selection rate, TPR, FPR, FNR and accuracy over the intersection of three sensitive
# features, with between-groups differences and ratios. Reports wall time of the metric
# computation and the peak RSS of each process, and checks the values agree within 1e-9.
#
#   benches/gates_vs_fairlearn.sh [ROWS]        (default 10000000)
#
# Needs the golden venv (gates/golden/requirements.txt), by default ~/.cache/tollgate/golden-venv;
# set GOLDEN_VENV to use another.
set -euo pipefail
rows="${1:-10000000}"
here="$(cd "$(dirname "$0")" && pwd)"
venv="${GOLDEN_VENV:-$HOME/.cache/tollgate/golden-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/../gates/golden/requirements.txt"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo bench -q -p tollgate-gates --bench gates_fairness -- --rows "$rows" --out "$work"
"$venv/bin/python" "$here/gates_vs_fairlearn.py" "$work"
