"""PyTorch's side of benches/runner_vs_pytorch.sh: the same TorchScript file, the same rows
(adult-eval repeated to ROWS), the same batch size, the same number of intra-op threads, run
with torch.jit.load + no_grad. Two measurements, each matching one of tollgate's:

- `pytorch encode + forward`: each batch starts as columns (numbers as float64 arrays, categories
  as NumPy string arrays, built before timing, as tollgate's batches are), is encoded into the
  float32 [rows, width] input with NumPy (one-hot by comparing with the declared values), run,
  and its output brought back as float64 -- what tollgate's runner does per batch;
- `pytorch forward (pre-encoded)`: the float32 input of every batch is built before timing; each
  batch is made a tensor with torch.from_numpy (no copy), run, and its output brought back as
  float64.

Prints rows/s, best of REPEATS, and the mean score (which must equal tollgate's).
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


def encode(columns, out):
    """One batch of columns into `out` (float32 [rows, width]), as tollgate's InputEncoder."""
    offset = 0
    for name in train_income.INPUTS:
        values = train_income.CATEGORIES.get(name)
        if values is None:
            out[:, offset] = columns[name]
            offset += 1
        else:
            out[:, offset : offset + len(values)] = columns[name][:, None] == np.array(values)[None, :]
            offset += len(values)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (torch.set_num_threads); 0 keeps PyTorch's default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=str(ROOT / "examples" / "models" / "income-v4.pt"))
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    rows = list(csv.DictReader(open(ROOT / "examples" / "data" / "adult-eval.csv", newline="")))
    take = np.arange(a.rows) % len(rows)
    columns = {}
    for name in train_income.INPUTS:
        if name in train_income.CATEGORIES:
            columns[name] = np.array([r[name] for r in rows])[take]
        else:
            columns[name] = np.array([float(r[name]) for r in rows])[take]
    starts = range(0, a.rows, a.batch)
    column_batches = [{k: v[i : i + a.batch] for k, v in columns.items()} for i in starts]
    width = len(train_income.columns())
    encoded = [encode(b, np.zeros((len(b["age"]), width), dtype=np.float32)) for b in column_batches]
    # The same input as train_income.encode builds (what the model was trained on).
    reference = train_income.encode(rows).numpy()
    n = min(len(rows), a.rows)
    assert np.array_equal(np.concatenate(encoded)[:n], reference[:n])

    device = torch.device(a.device)
    model = torch.jit.load(a.model, map_location=device)
    model.eval()
    best_runner = best_forward = float("inf")
    checksum = 0.0
    with torch.no_grad():
        # Warm-up: the profiling executor optimises the graph after the first calls.
        for _ in range(3):
            model(torch.from_numpy(encoded[0]).to(device))
        for _ in range(a.repeats):
            t = time.perf_counter()
            buffer = np.empty((a.batch, width), dtype=np.float32)
            for b in column_batches:
                x = encode(b, buffer[: len(b["age"])])
                checksum += float(model(torch.from_numpy(x).to(device)).cpu().numpy().astype(np.float64).sum())
            best_runner = min(best_runner, time.perf_counter() - t)
            t = time.perf_counter()
            for x in encoded:
                checksum += float(model(torch.from_numpy(x).to(device)).cpu().numpy().astype(np.float64).sum())
            best_forward = min(best_forward, time.perf_counter() - t)
    print(f"device {a.device} rows {a.rows} batch {a.batch} threads {torch.get_num_threads()} torch {torch.__version__}")
    print(f"pytorch encode + forward            {a.rows / best_runner:>12.0f} rows/s")
    print(f"pytorch forward (pre-encoded)       {a.rows / best_forward:>12.0f} rows/s")
    print(f"mean score {checksum / (2 * a.repeats * a.rows):.6f}")


if __name__ == "__main__":
    main()
