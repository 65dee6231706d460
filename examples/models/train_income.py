"""Trains the example `income` models on the UCI Adult rows in examples/data/adult-train.csv and
saves them as TorchScript (models/income-v1.pt ... income-v4.pt).

Run from the repo root with the torch venv of the README (torch 2.13.0):

    ~/.cache/tollgate/torch-venv/bin/python examples/models/train_income.py [VERSION ...]

(all four when no version is named). Every version standardises the numeric inputs declared in
models/income.yaml inside the model; categories are one-hot encoded by tollgate over the declared
`values`.

- version 1 is a logistic regression (no hidden layer);
- version 2 is a logistic regression whose weights on `education_num` and `hours_per_week` are
  kept non-negative, so its score never falls when either rises (a monotonic constraint).

Versions 3 and 4 are a small MLP. `sex` is not an input, but `relationship` and
`marital_status` stand in for it:

- version 3 is trained for accuracy alone and selects men far more often than women;
- version 4 is mitigated in two ways: it ignores the two proxies (their columns are masked to
  zero inside the model), and training adds a demographic-parity penalty (the squared gap between
  the smoothed selection rates of women and men). Its release also lowers the decision threshold
  to 0.4, which the release (not the model) sets.

Training is deterministic (fixed seed, one thread), so a rerun from the same checkout path writes
the same files (TorchScript keeps this script's path and line numbers as debug information, so
another path or an edit above the model classes changes the bytes); the digests pinned in
models/income.yaml must be updated (`sha256sum`) when a file changes.
"""

import csv
import hashlib
import pathlib
import sys

import torch


ROOT = pathlib.Path(__file__).resolve().parent.parent
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week", "native_country"]
# The category inputs and their values, in the order models/income.yaml declares them.
CATEGORIES = {
    "workclass": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov", "Without-pay", "Never-worked"],
    "marital_status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed", "Married-spouse-absent", "Married-AF-spouse"],
    "occupation": [
        "Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial", "Prof-specialty", "Handlers-cleaners",
        "Machine-op-inspct", "Adm-clerical", "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv", "Armed-Forces",
    ],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "native_country": ["United-States"],
}
# The signature's input order.
INPUTS = ["age", "workclass", "education_num", "marital_status", "occupation", "relationship", "capital_gain", "capital_loss", "hours_per_week", "native_country"]


def encode(rows):
    """The tensor tollgate's runner builds: one column per numeric input, one-hot per category."""
    out = []
    for r in rows:
        x = []
        for name in INPUTS:
            if name in CATEGORIES:
                x.extend(1.0 if r[name] == v else 0.0 for v in CATEGORIES[name])
            else:
                x.append(float(r[name]))
        out.append(x)
    return torch.tensor(out, dtype=torch.float32)


class IncomeModel(torch.nn.Module):
    """Standardises the inputs with training statistics, then a one-hidden-layer MLP and a sigmoid."""

    def __init__(self, mean, std, mask):
        super().__init__()
        width = mask.shape[0]
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("mask", mask)
        self.net = torch.nn.Sequential(torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, x):
        return torch.sigmoid(self.net((x - self.mean) / self.std * self.mask)).squeeze(1)


class LogisticModel(torch.nn.Module):
    """Standardises the inputs with training statistics, then a logistic regression. The weights
    of the columns in `nonneg` are clamped to >= 0 after every step (`clamp_monotone`)."""

    def __init__(self, mean, std, nonneg):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("nonneg", nonneg)
        self.linear = torch.nn.Linear(mean.shape[0], 1)

    def forward(self, x):
        return torch.sigmoid(self.linear((x - self.mean) / self.std)).squeeze(1)

    @torch.jit.unused
    def clamp_monotone(self):
        with torch.no_grad():
            w = self.linear.weight
            w.copy_(torch.where(self.nonneg.bool(), w.clamp_min(0.0), w))


def columns():
    """The name of the input each tensor column comes from."""
    out = []
    for name in INPUTS:
        out.extend([name] * len(CATEGORIES[name]) if name in CATEGORIES else [name])
    return out


def train(x, y, female, fairness_weight, ignore=()):
    torch.manual_seed(7)
    mean = x.mean(0)
    std = x.std(0).clamp_min(1e-3)
    mask = torch.tensor([0.0 if c in ignore else 1.0 for c in columns()])
    model = IncomeModel(mean, std, mask)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    loss_fn = torch.nn.BCELoss()
    for _ in range(600):
        opt.zero_grad()
        p = model(x)
        loss = loss_fn(p, y)
        if fairness_weight:
            # Selection rates made differentiable: a steep sigmoid around the 0.5 threshold.
            selected = torch.sigmoid((p - 0.5) * 20)
            gap = selected[female].mean() - selected[~female].mean()
            loss = loss + fairness_weight * gap * gap
        loss.backward()
        opt.step()
    model.eval()
    return model


def train_logistic(x, y, monotone=()):
    torch.manual_seed(7)
    mean = x.mean(0)
    std = x.std(0).clamp_min(1e-3)
    nonneg = torch.tensor([1.0 if c in monotone else 0.0 for c in columns()])
    model = LogisticModel(mean, std, nonneg)
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-3)
    loss_fn = torch.nn.BCELoss()
    for _ in range(300):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        model.clamp_monotone()
    model.eval()
    return model


def save(model, x, path):
    with torch.no_grad():
        traced = torch.jit.trace(model, x[:4])
    traced.save(str(path))
    print(f"{path.relative_to(ROOT)}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


def main():
    # One thread and deterministic kernels: a rerun writes the same bytes.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rows = list(csv.DictReader(open(ROOT / "data" / "adult-train.csv", newline="")))
    x = encode(rows)
    y = torch.tensor([float(r["income"]) for r in rows])
    female = torch.tensor([r["sex"] == "Female" for r in rows])
    eval_rows = list(csv.DictReader(open(ROOT / "data" / "adult-eval.csv", newline="")))
    xe = encode(eval_rows)
    proxies = ("relationship", "marital_status")
    wanted = set(sys.argv[1:]) or {"1", "2", "3", "4"}
    for version, threshold in (("1", 0.5), ("2", 0.5)):
        if version not in wanted:
            continue
        model = train_logistic(x, y, monotone=("education_num", "hours_per_week") if version == "2" else ())
        with torch.no_grad():
            p = model(xe)
        ye = torch.tensor([float(r["income"]) for r in eval_rows])
        print(f"version {version}: accuracy on adult-eval at {threshold}: {((p >= threshold).float() == ye).float().mean().item():.3f}", file=sys.stderr)
        save(model, x, ROOT / "models" / f"income-v{version}.pt")
    for version, weight, ignore, threshold in (("3", 0.0, (), 0.5), ("4", 20.0, proxies, 0.4)):
        if version not in wanted:
            continue
        model = train(x, y, female, weight, ignore)
        with torch.no_grad():
            p = model(xe)
        rates = {s: (p[[i for i, r in enumerate(eval_rows) if r["sex"] == s]] >= threshold).float().mean().item() for s in ("Female", "Male")}
        print(f"version {version}: selection rate on adult-eval at threshold {threshold}: {rates}", file=sys.stderr)
        save(model, x, ROOT / "models" / f"income-v{version}.pt")


if __name__ == "__main__":
    main()
