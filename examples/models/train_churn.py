"""Builds version 3 of the example `churn` model (models/churn-v3.pt) as TorchScript.

The growth team's pipeline scored data/churn-eval.csv with version 3 elsewhere (the
`churn_v3_score` column, which the release's gates read instead of running a model). The example
has no churn training data, so this script fits the artifact to those recorded scores: a logistic
model over the inputs declared in models/churn.yaml (numbers standardised inside the model,
categories one-hot encoded by tollgate over the declared `values`) whose logit is the least-squares
fit of the recorded scores' logits. Running the artifact therefore gives the best such
approximation of the column, not the column itself (the script prints how far apart they are).

Run from the repo root with the torch venv of the README (torch 2.13.0):

    ~/.cache/tollgate/torch-venv/bin/python examples/models/train_churn.py

Deterministic (closed-form fit, one thread); update the digest pinned in models/churn.yaml
(`sha256sum`) when the file changes.
"""

import csv
import hashlib
import pathlib

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The signature's inputs, in order; a category maps to its declared values.
INPUTS = {
    "tenure_months": None,
    "monthly_charges": None,
    "contract": ["month-to-month", "one-year", "two-year"],
    "payment_method": ["card", "bank-transfer", "invoice"],
    "support_calls": None,
}


def encode(rows):
    """The tensor tollgate's runner builds: one column per numeric input, one-hot per category."""
    out = []
    for r in rows:
        x = []
        for name, values in INPUTS.items():
            if values is None:
                x.append(float(r[name]))
            else:
                x.extend(1.0 if r[name] == v else 0.0 for v in values)
        out.append(x)
    return torch.tensor(out, dtype=torch.float64)


class ChurnModel(torch.nn.Module):
    """Standardises the inputs, then a logistic regression."""

    def __init__(self, mean, std, weight, bias):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x):
        return torch.sigmoid(((x - self.mean) / self.std) @ self.weight + self.bias)


def main():
    torch.set_num_threads(1)
    rows = list(csv.DictReader(open(ROOT / "data" / "churn-eval.csv", newline="")))
    x = encode(rows)
    p = torch.tensor([float(r["churn_v3_score"]) for r in rows], dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    mean = x.mean(0)
    std = x.std(0).clamp_min(1e-3)
    z = (x - mean) / std
    # A small ridge keeps the one-hot columns (which sum to one) identifiable.
    a = torch.cat([z, torch.ones(len(rows), 1, dtype=torch.float64)], 1)
    coef = torch.linalg.solve(a.T @ a + 1e-3 * torch.eye(a.shape[1], dtype=torch.float64), a.T @ torch.logit(p))
    model = ChurnModel(mean.float(), std.float(), coef[:-1].float(), coef[-1:].float()).eval()
    with torch.no_grad():
        fitted = model(x.float())
    gap = (fitted.double() - p).abs()
    print(f"difference from churn_v3_score: mean {gap.mean().item():.4f}, largest {gap.max().item():.4f}")
    path = ROOT / "models" / "churn-v3.pt"
    with torch.no_grad():
        torch.jit.trace(model, x[:4].float()).save(str(path))
    print(f"{path.relative_to(ROOT)}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
