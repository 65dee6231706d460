#!/usr/bin/env bash
# Inference throughput of the example income model (examples/models/income-v4.pt) through
# tollgate's runner and through PyTorch from Python: same rows, batch size, device and intra-op
# threads, one after the other in one run. Usage:
#   benches/runner_vs_pytorch.sh [ROWS] [BATCH] [DEVICE] [THREADS]
# (defaults 1000000 4096 cpu 1; THREADS 0 keeps each library's default). Both sides time the same
# two paths (see torch/benches/runner.rs and benches/runner_vs_pytorch.py): encode + forward
# (columns to the float32 input, forward, output back as float64) and forward alone on
# pre-encoded input. The target: tollgate >= 0.9x PyTorch on both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
BATCH=${2:-4096}
DEVICE=${3:-cpu}
THREADS=${4:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}
# shellcheck source=scripts/torch-env
source scripts/torch-env
cargo bench -q -p tollgate-torch --bench runner --no-run 2>/dev/null || cargo bench -p tollgate-torch --bench runner --no-run
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load: $(uptime)"
cargo bench -q -p tollgate-torch --bench runner -- --rows "$ROWS" --batch "$BATCH" --device "$DEVICE" --threads "$THREADS" | tee "$out/tollgate"
python benches/runner_vs_pytorch.py --rows "$ROWS" --batch "$BATCH" --device "$DEVICE" --threads "$THREADS" | tee "$out/pytorch"
python - "$out/tollgate" "$out/pytorch" <<'PY'
import sys
def rate(path, label):
    for line in open(path):
        if line.startswith(label):
            return float(line.split()[-2])
    raise SystemExit(f"no `{label}` line in {path}")
t, p = sys.argv[1], sys.argv[2]
runner, torch_runner = rate(t, "tollgate runner"), rate(p, "pytorch encode + forward")
forward, torch_forward = rate(t, "tollgate forward"), rate(p, "pytorch forward")
print(f"encode + forward: tollgate / pytorch  {runner / torch_runner:.2f}x  (target >= 0.9x)")
print(f"forward alone:    tollgate / pytorch  {forward / torch_forward:.2f}x  (target >= 0.9x)")
m1 = float(open(t).read().split("mean score ")[1].split()[0])
m2 = float(open(p).read().split("mean score ")[1].split()[0])
print(f"mean score tollgate {m1:.6f} pytorch {m2:.6f} (same model, same rows: must agree)")
if abs(m1 - m2) > 1e-5:
    raise SystemExit("scores differ")
PY
echo "load: $(uptime)"
