//! Agreement with scikit-learn, Fairlearn and SciPy to within 1e-9, on the inputs and expected
//! values that `gates/golden/generate.py` wrote into `gates/tests/data/golden/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tollgate_gates::metrics::{
    Average, BinaryAccumulator, BinaryMetric, DEFAULT_ECE_BINS, GroupEncoder, Method, MulticlassConfusion, categorical_drift, kstwo_sf,
    numeric_drift, regression_metrics,
};

const TOLERANCE: f64 = 1e-9;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Columns of a golden CSV by header name.
fn read_csv(name: &str) -> HashMap<String, Vec<String>> {
    let mut reader = csv::Reader::from_path(dir().join(name)).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    for record in reader.records() {
        let record = record.unwrap();
        for (i, v) in record.iter().enumerate() {
            cols[i].push(v.to_owned());
        }
    }
    headers.into_iter().zip(cols).collect()
}

fn floats(v: &[String]) -> Vec<f64> {
    v.iter().map(|s| s.parse::<f64>().unwrap()).collect()
}

fn check(what: &str, actual: f64, expected: &Value, failures: &mut Vec<String>) {
    let ok = match expected.as_f64() {
        None => actual.is_nan(),
        Some(e) => (actual - e).abs() <= TOLERANCE * e.abs().max(1.0),
    };
    if !ok {
        failures.push(format!("{what}: got {actual:?}, expected {expected}"));
    }
}

#[test]
fn binary_quality_and_fairness() {
    let expected = expected();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in expected["binary"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cols = read_csv(case["data"].as_str().unwrap());
        let labels: Vec<bool> = cols["label"].iter().map(|v| v == "1").collect();
        let preds: Vec<bool> = cols["prediction"].iter().map(|v| v == "1").collect();
        let scores = cols.get("score").map(|v| floats(v));
        let weights = cols.get("weight").map(|v| floats(v));
        let features: Vec<String> = case["sensitive"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect();
        let mut enc = GroupEncoder::new(features.clone()).unwrap();
        let mut acc = BinaryAccumulator::new(scores.is_some(), DEFAULT_ECE_BINS);
        for i in 0..labels.len() {
            let values: Vec<&str> = features.iter().map(|f| cols[f][i].as_str()).collect();
            let g = enc.encode(&values);
            let s = scores.as_ref().map_or(0.0, |s| s[i]);
            let w = weights.as_ref().map_or(1.0, |w| w[i]);
            acc.push(g, labels[i], preds[i], s, w);
        }
        let groupings = case["groupings"].as_array().unwrap();
        let layouts: Vec<_> = groupings
            .iter()
            .map(|g| {
                let subset: Vec<usize> = g["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| features.iter().position(|x| x == f.as_str().unwrap()).unwrap())
                    .collect();
                enc.layout(&subset).unwrap()
            })
            .collect();
        let reports = acc.finish(&layouts).unwrap();

        for (metric, value) in case["overall"].as_object().unwrap() {
            let m = BinaryMetric::from_name(metric).unwrap();
            assert!(reports[0].available(m), "{name}: {metric} not available");
            check(&format!("{name} overall {metric}"), reports[0].overall.get(m), value, &mut failures);
            checked += 1;
        }
        for (grouping, report) in groupings.iter().zip(&reports) {
            let labels_expected = grouping["groups"].as_array().unwrap();
            assert_eq!(report.by_group.len(), labels_expected.len(), "{name}: number of groups");
            for (i, (group, values)) in labels_expected.iter().zip(grouping["by_group"].as_array().unwrap()).enumerate() {
                let want: Vec<&str> = group.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                assert_eq!(report.groups.label(i), want, "{name}: group order");
                for (metric, value) in values.as_object().unwrap() {
                    let m = BinaryMetric::from_name(metric).unwrap();
                    check(&format!("{name} {want:?} {metric}"), report.by_group[i].get(m), value, &mut failures);
                    checked += 1;
                }
            }
            for (method_name, method) in [("between_groups", Method::BetweenGroups), ("to_overall", Method::ToOverall)] {
                let d = serde_json::to_value(report.disparities(method)).unwrap();
                for (metric, value) in grouping["disparities"][method_name].as_object().unwrap() {
                    let actual = d[metric].as_f64().unwrap_or(f64::NAN);
                    let features = &report.groups.features;
                    check(&format!("{name} {features:?} {method_name} {metric}"), actual, value, &mut failures);
                    checked += 1;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} values disagree:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 1000, "only {checked} values checked");
}

#[test]
fn regression() {
    let expected = expected();
    let mut failures = Vec::new();
    for case in expected["regression"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cols = read_csv(case["data"].as_str().unwrap());
        let w = cols.get("weight").map(|v| floats(v));
        let m = regression_metrics(&floats(&cols["label"]), &floats(&cols["prediction"]), w.as_deref()).unwrap();
        check(&format!("{name} mae"), m.mae, &case["mae"], &mut failures);
        check(&format!("{name} rmse"), m.rmse, &case["rmse"], &mut failures);
        check(&format!("{name} r2"), m.r2, &case["r2"], &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn multiclass() {
    let expected = expected();
    let mut failures = Vec::new();
    for case in expected["multiclass"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cols = read_csv(case["data"].as_str().unwrap());
        let ints = |v: &[String]| v.iter().map(|s| s.parse::<u32>().unwrap()).collect::<Vec<_>>();
        let w = cols.get("weight").map(|v| floats(v));
        let k = case["classes"].as_u64().unwrap() as usize;
        let m = MulticlassConfusion::from_columns(k, &ints(&cols["label"]), &ints(&cols["prediction"]), w.as_deref()).unwrap();
        check(&format!("{name} accuracy"), m.accuracy(), &case["accuracy"], &mut failures);
        check(&format!("{name} balanced_accuracy"), m.balanced_accuracy(), &case["balanced_accuracy"], &mut failures);
        for (avg_name, avg) in [("macro", Average::Macro), ("micro", Average::Micro), ("weighted", Average::Weighted)] {
            let (p, r, f) = m.precision_recall_f1(avg);
            check(&format!("{name} {avg_name} precision"), p, &case[avg_name]["precision"], &mut failures);
            check(&format!("{name} {avg_name} recall"), r, &case[avg_name]["recall"], &mut failures);
            check(&format!("{name} {avg_name} f1"), f, &case[avg_name]["f1"], &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn drift() {
    let expected = expected();
    let mut failures = Vec::new();
    for case in expected["drift"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cols = read_csv(case["data"].as_str().unwrap());
        let split = |side: &str| -> Vec<&String> {
            cols["sample"].iter().zip(&cols["value"]).filter(|(s, _)| *s == side).map(|(_, v)| v).collect()
        };
        let (r, c) = (split("reference"), split("current"));
        if case["kind"] == "numeric" {
            let parse = |v: &[&String]| v.iter().map(|s| s.parse::<f64>().unwrap()).collect::<Vec<_>>();
            let d = numeric_drift(&parse(&r), &parse(&c)).unwrap();
            let v = serde_json::to_value(&d).unwrap();
            // Exact up to 10,000 values a side, SciPy's asymptotic p-value above (the adult cases).
            let p = d.ks_pvalue.unwrap_or(f64::NAN);
            check(&format!("{name} ks_pvalue"), p, &case["ks_pvalue"], &mut failures);
            for metric in
                ["population_stability_index", "jensen_shannon_distance", "ks_statistic", "wasserstein_distance", "wasserstein_normed"]
            {
                check(&format!("{name} {metric}"), v[metric].as_f64().unwrap_or(f64::NAN), &case[metric], &mut failures);
            }
        } else {
            let r: Vec<Option<&str>> = r.into_iter().map(|s| Some(s.as_str())).collect();
            let c: Vec<Option<&str>> = c.into_iter().map(|s| Some(s.as_str())).collect();
            let d = categorical_drift(&r, &c).unwrap();
            check(&format!("{name} psi"), d.population_stability_index, &case["population_stability_index"], &mut failures);
            check(&format!("{name} js"), d.jensen_shannon_distance, &case["jensen_shannon_distance"], &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `kstwo.sf` at points that reach every method SciPy's `_kolmogn` switches between, and
/// `ks_2samp` p-values above 10,000 values a side, where SciPy uses `kstwo.sf(d, round(en))`.
#[test]
fn ks_asymptotic() {
    let expected = expected();
    let mut failures = Vec::new();
    for case in expected["kstwo"].as_array().unwrap() {
        let (n, x) = (case["n"].as_u64().unwrap(), case["x"].as_f64().unwrap());
        check(&format!("kstwo.sf({x}, {n})"), kstwo_sf(n, x), &case["sf"], &mut failures);
    }
    for case in expected["ks_asymptotic"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        // Value i of a sample is ((i * mult) % mod) / mod * scale + shift, as the generator has it.
        let sample = |spec: &serde_json::Value| -> Vec<f64> {
            let spec = spec.as_array().unwrap();
            let int = |i: usize| spec[i].as_u64().unwrap();
            let (size, mult, modulo, scale, shift) = (int(0), int(1), int(2), spec[3].as_f64().unwrap(), spec[4].as_f64().unwrap());
            (0..size).map(|i| ((i * mult) % modulo) as f64 / modulo as f64 * scale + shift).collect()
        };
        let d = numeric_drift(&sample(&case["reference"]), &sample(&case["current"])).unwrap();
        assert!(d.reference_rows.max(d.current_rows) > 10_000, "{name} is in the asymptotic regime");
        check(&format!("{name} ks_statistic"), d.ks_statistic, &case["ks_statistic"], &mut failures);
        check(&format!("{name} ks_pvalue"), d.ks_pvalue.unwrap_or(f64::NAN), &case["ks_pvalue"], &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn data_quality() {
    use tollgate_gates::data_quality::DataQualityAccumulator;
    use tollgate_gates::dataset::{self, ColumnSpec, Format, ReadOptions};

    let expected = expected();
    for case in expected["data_quality"].as_array().unwrap() {
        let schema: Vec<ColumnSpec> = serde_json::from_value(case["schema"].clone()).unwrap();
        let path = dir().join(case["data"].as_str().unwrap());
        let file_columns = dataset::column_names(&path, Format::Csv).unwrap();
        let present: Vec<ColumnSpec> = schema.iter().filter(|s| file_columns.contains(&s.name)).cloned().collect();
        let mut acc = DataQualityAccumulator::new(&present);
        let options = ReadOptions { columns: &present, expected_sha256: None, batch_rows: 1000 };
        dataset::read(&path, Format::Csv, &options, |b| {
            acc.push(b);
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        let report = acc.finish(&file_columns, &schema);
        assert_eq!(report.rows, case["rows"].as_u64().unwrap());
        assert_eq!(report.duplicate_rows, case["duplicate_rows"].as_u64().unwrap());
        assert_eq!(serde_json::to_value(&report.missing_columns).unwrap(), case["missing_columns"]);
        assert_eq!(serde_json::to_value(&report.unexpected_columns).unwrap(), case["unexpected_columns"]);
        for (got, want) in report.columns.iter().zip(case["columns"].as_array().unwrap()) {
            assert_eq!(got.name, want["name"].as_str().unwrap());
            assert_eq!(got.nulls, want["nulls"].as_u64().unwrap(), "{}", got.name);
            assert!((got.null_rate - want["null_rate"].as_f64().unwrap()).abs() <= TOLERANCE);
            assert_eq!(got.below_min, want["below_min"].as_u64().unwrap(), "{}", got.name);
            assert_eq!(got.above_max, want["above_max"].as_u64().unwrap(), "{}", got.name);
            assert_eq!(got.not_allowed, want["not_allowed"].as_u64().unwrap(), "{}", got.name);
        }
    }
}
