#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds tollgate with the `torch` feature, checks the binary
# keeps libtorch_cuda linked, runs the example release gates on CUDA (results must equal the
# CPU's), and prints CPU vs CUDA inference throughput of the example model. Usage:
#   scripts/gpu-check.sh [ROWS] [BATCH]      (defaults 2000000 65536)
# Exits non-zero when CUDA is not used or results differ.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
BATCH=${2:-65536}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}
# shellcheck source=scripts/torch-env
source scripts/torch-env
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c 'import torch; assert torch.cuda.is_available(), "PyTorch sees no GPU"; print("pytorch sees", torch.cuda.get_device_name(0))'

cargo build --release --features torch
bin=$CARGO_TARGET_DIR/release/tollgate
if ! readelf -d "$bin" | grep -q 'libtorch_cuda.so'; then
  echo "FAIL: $bin does not list libtorch_cuda.so as NEEDED; CUDA would be invisible (docs/adr/0012)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for release in income-v3 income-v4; do
  for device in cpu cuda; do
    # Exit 1 is a failed gate (income-v3 fails fairness by design), not an error.
    "$bin" gate run "$release" --repo examples --device "$device" --no-cache --format json > "$tmp/$release-$device.json" || [ $? -eq 1 ]
  done
  python - "$tmp/$release-cpu.json" "$tmp/$release-cuda.json" <<'PY'
import json, sys
cpu, cuda = (json.load(open(p)) for p in sys.argv[1:3])
assert cuda["run"]["device"].startswith("cuda"), f"ran on {cuda['run']['device']}, not CUDA"
for a, b in zip(cpu["categories"], cuda["categories"]):
    for x, y in zip(a["results"], b["results"]):
        assert x["status"] == y["status"], (x, y)
        assert x["value"] is None or abs(x["value"] - y["value"]) < 1e-6, (x, y)
print(f"{cpu['release']}: cuda ({cuda['run']['device']}, libtorch {cuda['run']['libtorchVersion']}) agrees with cpu; passed={cuda['passed']}")
PY
done

echo "--- throughput, $ROWS rows, batch $BATCH"
cargo bench -q -p tollgate-torch --bench runner -- --rows "$ROWS" --batch "$BATCH" --device cpu | tee "$tmp/cpu"
cargo bench -q -p tollgate-torch --bench runner -- --rows "$ROWS" --batch "$BATCH" --device cuda | tee "$tmp/cuda"
python benches/runner_vs_pytorch.py --rows "$ROWS" --batch "$BATCH" --device cuda
python - "$tmp/cpu" "$tmp/cuda" <<'PY'
import sys
def rate(path):
    return next(float(l.split()[-2]) for l in open(path) if l.startswith("tollgate runner"))
cpu, cuda = rate(sys.argv[1]), rate(sys.argv[2])
print(f"tollgate runner: cpu {cpu:,.0f} rows/s, cuda {cuda:,.0f} rows/s ({cuda / cpu:.1f}x)")
PY
