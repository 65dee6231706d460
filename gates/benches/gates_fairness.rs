//! Speed of the fairness metrics on many rows, against Fairlearn's `MetricFrame`.
//!
//! `benches/gates_vs_fairlearn.sh` drives it: this binary generates the data (a fixed
//! SplitMix64 stream, so Python reads the very same rows), writes it as raw columns for the
//! Python side, times tollgate's one-pass computation, and writes the values and timings as
//! JSON. Run by hand:
//!
//! ```text
//! cargo bench -p tollgate-gates --bench gates_fairness -- --rows 10000000 --out DIR
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use tollgate_gates::metrics::{BinaryAccumulator, BinaryMetric, GroupEncoder, Method};

/// SplitMix64: tiny, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const LEVELS: [usize; 3] = [2, 5, 4];
const METRICS: [BinaryMetric; 5] = [
    BinaryMetric::SelectionRate,
    BinaryMetric::TruePositiveRate,
    BinaryMetric::FalsePositiveRate,
    BinaryMetric::FalseNegativeRate,
    BinaryMetric::Accuracy,
];

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU time (user + system) of this process, from `/proc/self/stat` (Linux, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: usize = 10_000_000;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().ok_or("--rows needs a value")?.parse()?,
            "--out" => out = Some(args.next().ok_or("--out needs a value")?.into()),
            // cargo bench passes --bench; ignore it and anything else it adds.
            _ => {}
        }
    }

    // Data: three sensitive features, labels correlated with them, predictions from a score.
    let mut rng = Rng(20261128);
    let mut y = vec![0u8; rows];
    let mut p = vec![0u8; rows];
    let mut s: [Vec<u8>; 3] = [vec![0u8; rows], vec![0u8; rows], vec![0u8; rows]];
    for i in 0..rows {
        for f in 0..3 {
            s[f][i] = (rng.next() % LEVELS[f] as u64) as u8;
        }
        let base = 0.2 + 0.1 * f64::from(s[0][i]) + 0.05 * f64::from(s[1][i]);
        y[i] = u8::from(rng.unit() < base);
        let score = 0.6 * f64::from(y[i]) + 0.4 * rng.unit() + 0.02 * f64::from(s[2][i]);
        p[i] = u8::from(score >= 0.5);
    }
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
        for (name, col) in [("y_true", &y), ("y_pred", &p), ("s1", &s[0]), ("s2", &s[1]), ("s3", &s[2])] {
            std::fs::write(dir.join(format!("{name}.u8")), col)?;
        }
    }
    let rss_before = peak_rss_kib();

    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let names = vec!["s1".to_owned(), "s2".to_owned(), "s3".to_owned()];
    let levels = LEVELS.iter().map(|&n| (0..n).map(|l| l.to_string()).collect()).collect();
    let mut encoder = GroupEncoder::with_levels(names, levels)?;
    let mut acc = BinaryAccumulator::new(false, 10);
    for i in 0..rows {
        let codes = [u32::from(s[0][i]), u32::from(s[1][i]), u32::from(s[2][i])];
        let g = encoder.encode_codes(&codes);
        acc.push(g, y[i] == 1, p[i] == 1, 0.0, 1.0);
    }
    let report = acc.finish(&[encoder.layout_all()?])?.remove(0);
    let mut values = serde_json::Map::new();
    for m in METRICS {
        let g = report.metric(m);
        values.insert(
            m.name().to_owned(),
            serde_json::json!({
                "overall": g.overall,
                "by_group": g.by_group,
                "difference": g.difference(Method::BetweenGroups),
                "ratio": g.ratio(Method::BetweenGroups),
            }),
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let result = serde_json::json!({
        "rows": rows,
        "groups": report.by_group.len(),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_kib": peak_rss_kib(),
        "peak_rss_kib_before_metrics": rss_before,
        "values": values,
    });
    if let Some(dir) = &out {
        std::fs::write(dir.join("tollgate.json"), serde_json::to_vec_pretty(&result)?)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "tollgate: {rows} rows, {} groups, {seconds:.3} s, peak RSS {} MiB", report.by_group.len(), peak_rss_kib() / 1024)?;
    Ok(())
}
