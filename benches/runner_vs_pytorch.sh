#!/usr/bin/env bash
# Inference throughput of the example income model (examples/models/income-v4.pt) through
# tollgate's runner and through PyTorch from Python, same rows, same batch size, same device,
# one after the other in one run. Usage: benches/runner_vs_pytorch.sh [ROWS] [BATCH] [DEVICE]
# (defaults 1000000 4096 cpu). The target: tollgate >= 0.9x PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
BATCH=${2:-4096}
DEVICE=${3:-cpu}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}
# shellcheck source=scripts/torch-env
source scripts/torch-env
cargo bench -q -p tollgate-gates --features torch --bench runner --no-run 2>/dev/null || cargo bench -p tollgate-gates --features torch --bench runner --no-run
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo bench -q -p tollgate-gates --features torch --bench runner -- --rows "$ROWS" --batch "$BATCH" --device "$DEVICE" | tee "$out/tollgate"
python benches/runner_vs_pytorch.py --rows "$ROWS" --batch "$BATCH" --device "$DEVICE" | tee "$out/pytorch"
python - "$out/tollgate" "$out/pytorch" <<'PY'
import re, sys
def rate(path, label):
    for line in open(path):
        if line.startswith(label):
            return float(line.split()[-2])
    raise SystemExit(f"no `{label}` line in {path}")
runner = rate(sys.argv[1], "tollgate runner")
forward = rate(sys.argv[1], "tollgate forward")
torch_rate = rate(sys.argv[2], "pytorch")
print(f"tollgate runner / pytorch   {runner / torch_rate:.2f}x  (target >= 0.9x; includes encoding the inputs)")
print(f"tollgate forward / pytorch  {forward / torch_rate:.2f}x")
m1 = float(open(sys.argv[1]).read().split("mean score ")[1].split()[0])
m2 = float(open(sys.argv[2]).read().split("mean score ")[1].split()[0])
print(f"mean score tollgate {m1:.6f} pytorch {m2:.6f} (same model, same rows: must agree)")
if abs(m1 - m2) > 1e-5:
    raise SystemExit("scores differ")
PY
