#!/usr/bin/env python3
"""Fairlearn's side of benches/gates_vs_fairlearn.sh: the same metrics on the same rows.

Reads the raw columns the Rust bench wrote into DIR, times one MetricFrame computing
selection rate, TPR, FPR, FNR and accuracy over the intersection of three sensitive features
(plus the between-groups difference and ratio), checks that every value agrees with
DIR/tollgate.json to within 1e-9, and prints the comparison.
"""

import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score


def main(directory):
    cols = {name: np.fromfile(f"{directory}/{name}.u8", dtype=np.uint8) for name in ["y_true", "y_pred", "s1", "s2", "s3"]}
    sf = pd.DataFrame({k: cols[k].astype(np.int64) for k in ["s1", "s2", "s3"]})
    y_true = cols["y_true"].astype(np.int64)
    y_pred = cols["y_pred"].astype(np.int64)
    metrics = {
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "accuracy": accuracy_score,
    }
    start = time.perf_counter()
    cpu_start = time.process_time()
    mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    difference = mf.difference(method="between_groups")
    ratio = mf.ratio(method="between_groups")
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with open(f"{directory}/tollgate.json") as f:
        rust = json.load(f)
    worst = 0.0
    for name in metrics:
        r = rust["values"][name]
        pairs = [(r["overall"], mf.overall[name]), (r["difference"], difference[name]), (r["ratio"], ratio[name])]
        pairs += list(zip(r["by_group"], mf.by_group[name].values))
        for a, b in pairs:
            a = float("nan") if a is None else a
            if np.isnan(a) and np.isnan(b):
                continue
            worst = max(worst, abs(a - b))
    agree = worst <= 1e-9
    rows = len(y_true)
    print(f"rows                     {rows}")
    print(f"groups (intersections)   {rust['groups']}")
    print(f"metrics                  {', '.join(metrics)} + difference and ratio")
    print("                         wall (s)   CPU (s)   peak RSS (MiB)")
    print(f"Fairlearn MetricFrame  {seconds:10.3f} {cpu_seconds:9.3f} {peak_kib / 1024:16.1f}")
    print(f"tollgate (one pass)    {rust['seconds']:10.3f} {rust['cpu_seconds']:9.3f} {rust['peak_rss_kib'] / 1024:16.1f}")
    print(f"speed-up               {seconds / rust['seconds']:9.1f}x {cpu_seconds / max(rust['cpu_seconds'], 1e-3):8.1f}x")
    print(f"largest difference       {worst:.3g} ({'agree' if agree else 'DISAGREE'} within 1e-9)")
    json.dump({"fairlearn_seconds": seconds, "fairlearn_cpu_seconds": cpu_seconds, "fairlearn_peak_rss_kib": peak_kib, "tollgate": {k: rust[k] for k in ["seconds", "cpu_seconds", "peak_rss_kib", "rows", "groups"]},
               "speedup": seconds / rust["seconds"], "max_abs_difference": worst}, open(f"{directory}/comparison.json", "w"), indent=1)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
