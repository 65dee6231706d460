"""PyTorch's side of benches/runner_vs_pytorch.sh: the same TorchScript file, the same rows
(adult-eval repeated to ROWS, encoded as tollgate's runner does), the same batch size, run with
torch.jit.load + no_grad. The arrays are built before timing; each batch is made a tensor with
torch.from_numpy (no copy) and the output brought back to NumPy, as a Python service would.
Prints rows/s, best of REPEATS.
"""

import argparse
import csv
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "models"))
import train_income  # noqa: E402  (the encoding the example model was trained with)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=str(ROOT / "examples" / "models" / "income-v4.pt"))
    a = p.parse_args()
    rows = list(csv.DictReader(open(ROOT / "examples" / "data" / "adult-eval.csv", newline="")))
    base = train_income.encode(rows).numpy()
    x = np.ascontiguousarray(base[np.arange(a.rows) % len(base)], dtype=np.float32)
    device = torch.device(a.device)
    model = torch.jit.load(a.model, map_location=device)
    model.eval()
    batches = [x[i : i + a.batch] for i in range(0, a.rows, a.batch)]
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(batches[0]).to(device))
        best = float("inf")
        checksum = 0.0
        for _ in range(a.repeats):
            t = time.perf_counter()
            for b in batches:
                checksum += float(model(torch.from_numpy(b).to(device)).cpu().numpy().astype(np.float64).sum())
            best = min(best, time.perf_counter() - t)
    print(f"device {a.device} rows {a.rows} batch {a.batch} threads {torch.get_num_threads()} torch {torch.__version__}")
    print(f"pytorch (torch.jit.load, no_grad)   {a.rows / best:>12.0f} rows/s")
    print(f"mean score {checksum / (a.repeats * a.rows):.6f}")


if __name__ == "__main__":
    main()
