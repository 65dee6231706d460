#!/usr/bin/env bash
# The checks of scripts/gpu-check.sh, for the GPU machine `device` lends, which has PyTorch
# 2.11.0+cu130 (its plain `python3`) and no cargo: runs the binaries scripts/gpu-binary built
# here into .gpu/ (against the same libtorch). From the repo root, with .gpu/ present:
#   scripts/gpu-check-prebuilt.sh [ROWS] [BATCH]      (defaults 2000000 65536)
# Checks that the binary keeps libtorch_cuda linked, that the example release gates run on CUDA
# with exactly the CPU's results, and that the benchmark's scores agree on CPU, CUDA and (when
# NumPy is there) PyTorch from Python; prints the throughput and a summary. Exits 1 on any
# mismatch, 2 when it cannot run at all.
set -uo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
BATCH=${2:-65536}
BIN=.gpu/tollgate
RUNNER=.gpu/runner
PY=${TOLLGATE_PYTHON:-python3}
[ -x "$BIN" ] && [ -x "$RUNNER" ] || { echo "no $BIN or $RUNNER: run scripts/gpu-binary first (here, not on the GPU machine)" >&2; exit 2; }
cat .gpu/BUILD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=()
fail() { echo "FAIL: $*" >&2; failures+=("$*"); }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# The binaries find libtorch through LD_LIBRARY_PATH (their rpath is this build machine's venv);
# libtorch_cuda.so finds its CUDA libraries through its own rpath.
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') \
  || { echo "$PY cannot import torch" >&2; exit 2; }
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$PY" - "$(sed -n 's/^libtorch //p' .gpu/BUILD)" <<'PY' || fail "PyTorch here is not the libtorch .gpu/ was built against, or sees no GPU"
import sys, torch
built = sys.argv[1].split("+")[0]
here = torch.__version__.split("+")[0]
print(f"pytorch {torch.__version__} here, .gpu/ built against libtorch {sys.argv[1]}; cuda available: {torch.cuda.is_available()}")
sys.exit(built != here or not torch.cuda.is_available())
PY

# What the dynamic loader will load for the binary itself (DT_NEEDED), read from the ELF file:
# readelf may not be installed there.
"$PY" - "$BIN" <<'PY' || fail "$BIN does not list libtorch_cuda.so as NEEDED; CUDA would be invisible (docs/adr/0012)"
import struct, sys
data = open(sys.argv[1], "rb").read()
shoff, shentsize, shnum = struct.unpack_from("<Q", data, 0x28)[0], *struct.unpack_from("<HH", data, 0x3A)
sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
dynamic = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
strtab = sections[dynamic[6]]  # sh_link: the string table of its entries
needed = []
for off in range(dynamic[4], dynamic[4] + dynamic[5], 16):
    tag, val = struct.unpack_from("<qQ", data, off)
    if tag == 1:  # DT_NEEDED
        start = strtab[4] + val
        needed.append(data[start:data.index(b"\0", start)].decode())
print("NEEDED:", " ".join(n for n in needed if "torch" in n or "c10" in n))
sys.exit("libtorch_cuda.so" not in needed)
PY

for release in income-v3 income-v4; do
  for device in cpu cuda; do
    # Exit 1 is a failed gate (income-v3 fails fairness by design), not an error.
    "$BIN" gate run "$release" --repo examples --device "$device" --no-cache --format json > "$tmp/$release-$device.json"
    rc=$?
    [ $rc -le 1 ] || fail "gate run $release --device $device exited $rc"
  done
  "$PY" - "$tmp/$release-cpu.json" "$tmp/$release-cuda.json" <<'PY' || fail "$release: CUDA's gate results differ from the CPU's, or it did not run on CUDA"
import json, sys
cpu, cuda = (json.load(open(p)) for p in sys.argv[1:3])
problems = []
if not cuda["run"]["device"].startswith("cuda"):
    problems.append(f"ran on {cuda['run']['device']}, not CUDA")
if cpu["run"]["device"] != "cpu":
    problems.append(f"--device cpu ran on {cpu['run']['device']}")
if cpu["passed"] != cuda["passed"]:
    problems.append(f"passed: cpu {cpu['passed']}, cuda {cuda['passed']}")
count = 0
for a, b in zip(cpu["categories"], cuda["categories"], strict=True):
    for x, y in zip(a["results"], b["results"], strict=True):
        count += 1
        if x["status"] != y["status"] or (x["value"] is None) != (y["value"] is None) or (x["value"] is not None and abs(x["value"] - y["value"]) >= 1e-6):
            problems.append(f"{a['name']}: cpu {x}, cuda {y}")
print(f"{cpu['release']}: {count} gate results, cuda ({cuda['run']['device']}, libtorch {cuda['run']['libtorchVersion']}) "
      f"{'agrees with' if not problems else 'DIFFERS from'} cpu; passed={cuda['passed']}")
for p in problems:
    print("  " + p)
sys.exit(bool(problems))
PY
done

echo "--- throughput, $ROWS rows, batch $BATCH, one intra-op thread"
for device in cpu cuda; do
  "$RUNNER" --examples examples --rows "$ROWS" --batch "$BATCH" --device "$device" | tee "$tmp/bench-$device" \
    || fail "the runner benchmark failed on $device"
done
if "$PY" -c 'import numpy' 2>/dev/null; then
  "$PY" benches/runner_vs_pytorch.py --rows "$ROWS" --batch "$BATCH" --device cuda | tee "$tmp/bench-pytorch" \
    || fail "benches/runner_vs_pytorch.py failed"
else
  echo "no NumPy: PyTorch's side of the benchmark is skipped"
fi
"$PY" - "$tmp" <<'PY' || fail "the benchmark's mean scores differ between CPU, CUDA and PyTorch"
import os, sys
tmp = sys.argv[1]
def read(name):
    path = os.path.join(tmp, name)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    text = open(path).read()
    rates = {l.rsplit(None, 2)[0]: float(l.split()[-2]) for l in text.splitlines() if l.endswith("rows/s")}
    return rates, float(text.split("mean score ")[1].split()[0])
cpu, cuda, torch = read("bench-cpu"), read("bench-cuda"), read("bench-pytorch")
if cpu is None or cuda is None:
    sys.exit("a benchmark printed nothing")
for label in ("tollgate runner (encode + forward)", "tollgate forward (pre-encoded)"):
    print(f"{label}: cpu {cpu[0][label]:,.0f} rows/s, cuda {cuda[0][label]:,.0f} rows/s ({cuda[0][label] / cpu[0][label]:.2f}x)")
scores = {"cpu": cpu[1], "cuda": cuda[1]}
if torch is not None:
    scores["pytorch cuda"] = torch[1]
    for mine, theirs in (("tollgate runner (encode + forward)", "pytorch encode + forward"), ("tollgate forward (pre-encoded)", "pytorch forward")):
        t = next(v for k, v in torch[0].items() if k.startswith(theirs))
        print(f"{mine} on cuda / pytorch: {cuda[0][mine] / t:.2f}x")
print("mean scores: " + ", ".join(f"{k} {v:.6f}" for k, v in scores.items()))
sys.exit(max(scores.values()) - min(scores.values()) > 1e-5)
PY

echo "--- summary"
if [ ${#failures[@]} -eq 0 ]; then
  echo "OK: libtorch_cuda linked, gates ran on CUDA with the CPU's results, benchmark scores agree"
  exit 0
fi
printf 'FAILED: %s\n' "${failures[@]}"
exit 1
