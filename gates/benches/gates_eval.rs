//! End-to-end speed of `gate eval`'s engine: write a CSV of ROWS rows (label, score, three
//! sensitive features), then time `eval::evaluate`, which streams it, verifies its SHA-256,
//! types the columns and computes every quality and fairness metric, with ranking metrics.
//!
//! ```text
//! cargo bench -p tollgate-gates --bench gates_eval -- --rows 1000000
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::{BufWriter, Write};
use std::time::Instant;

use tollgate_gates::dataset::{DEFAULT_BATCH_ROWS, sha256_file};
use tollgate_gates::eval::{EvalRequest, Predictions, evaluate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: usize = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rows" {
            rows = args.next().ok_or("--rows needs a value")?.parse()?;
        }
    }
    let dir = std::env::temp_dir().join(format!("tollgate-gates-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("eval.csv");
    {
        let mut w = BufWriter::new(std::fs::File::create(&path)?);
        writeln!(w, "label,score,sex,race,age_group")?;
        let mut state: u64 = 42;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let races = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"];
        let ages = ["<25", "25-44", "45-64", "65+"];
        for _ in 0..rows {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let label = u8::from((next() >> 11) as f64 / ((1u64 << 53) as f64) < u);
            let sex = if next() % 2 == 0 { "Female" } else { "Male" };
            writeln!(w, "{label},{u},{sex},{},{}", races[(next() % 5) as usize], ages[(next() % 4) as usize])?;
        }
    }
    let (sha, bytes) = sha256_file(&path)?;
    let start = Instant::now();
    let report = evaluate(&EvalRequest {
        data: path.clone(),
        format: None,
        label: "label".into(),
        predictions: Predictions::Threshold { score: "score".into(), threshold: 0.5 },
        sensitive: vec!["sex".into(), "race".into(), "age_group".into()],
        weight: None,
        baseline: None,
        expected_sha256: Some(sha),
        ece_bins: 10,
        batch_rows: DEFAULT_BATCH_ROWS,
    })?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "gate eval engine: {rows} rows, {:.1} MB CSV, {} groupings, {seconds:.3} s ({:.2} M rows/s), roc_auc {:.4}",
        bytes as f64 / 1e6,
        report.fairness.len(),
        rows as f64 / seconds / 1e6,
        report.overall["roc_auc"]
    )?;
    Ok(())
}
