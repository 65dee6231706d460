//! CPU (or CUDA) inference throughput of the example income model through tollgate's runner:
//! the adult-eval rows repeated to ROWS rows, cut into batches of BATCH (built before timing, as
//! the dataset readers hand them over), with THREADS intra-op threads (default 1; 0 keeps
//! libtorch's default). The example repo is `--examples DIR` (default: `../examples` from the
//! package directory cargo runs benches in, so a binary copied to another machine reads the
//! data there). Prints rows/s, best of REPEATS, for
//!
//! - `runner (encode + forward)`: `ModelScorer::score_batch` per batch: encoding the columns
//!   (numbers, one-hot categories) into a reused buffer, the forward pass under no-grad, reading
//!   the outputs back as `f64` and checking them -- what `tollgate gate run` does per batch;
//! - `forward (pre-encoded)`: `TorchModel::forward` on inputs encoded before timing;
//! - `encode only`: `InputEncoder::encode`, for where the time goes.
//!
//! `benches/runner_vs_pytorch.py` times PyTorch on the same two paths.
//!
//! ```text
//! cargo bench -p tollgate-torch --bench runner -- --rows 1000000 --batch 4096 --device cpu --threads 1
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::Instant;

use tollgate_gates::dataset::{Batch, Column, sha256_file};
use tollgate_gates::runner::{ArtifactFormat, Device, Input, InputEncoder, OutputKind, Signature};
use tollgate_torch::{TorchModel, load_scorer, set_threads, threads};

const NUMERIC: [&str; 5] = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"];

/// The inputs of examples/models/income.yaml, in order.
fn inputs() -> Vec<Input> {
    let cat = |name: &str, values: &[&str]| Input { name: name.into(), values: Some(values.iter().map(|v| (*v).to_owned()).collect()) };
    vec![
        Input::numeric("age"),
        cat(
            "workclass",
            &["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov", "Without-pay", "Never-worked"],
        ),
        Input::numeric("education_num"),
        cat(
            "marital_status",
            &["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed", "Married-spouse-absent", "Married-AF-spouse"],
        ),
        cat(
            "occupation",
            &[
                "Tech-support",
                "Craft-repair",
                "Other-service",
                "Sales",
                "Exec-managerial",
                "Prof-specialty",
                "Handlers-cleaners",
                "Machine-op-inspct",
                "Adm-clerical",
                "Farming-fishing",
                "Transport-moving",
                "Priv-house-serv",
                "Protective-serv",
                "Armed-Forces",
            ],
        ),
        cat("relationship", &["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"]),
        Input::numeric("capital_gain"),
        Input::numeric("capital_loss"),
        Input::numeric("hours_per_week"),
        cat("native_country", &["United-States"]),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut rows, mut batch_rows, mut device, mut repeats, mut thread_count) = (1_000_000usize, 4096usize, Device::Cpu, 3usize, 1usize);
    let mut root = std::path::PathBuf::from("../examples");
    let mut model = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rows" => rows = value()?.parse()?,
            "--batch" => batch_rows = value()?.parse()?,
            "--repeats" => repeats = value()?.parse()?,
            "--threads" => thread_count = value()?.parse()?,
            "--model" => model = Some(value()?.into()),
            "--examples" => root = value()?.into(),
            "--device" => {
                device = match value()?.as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" => Device::Cuda,
                    _ => Device::Auto,
                }
            }
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let model = model.unwrap_or_else(|| root.join("models/income-v4.pt"));
    if thread_count > 0 {
        set_threads(thread_count);
    }
    let inputs = inputs();
    let mut reader = csv::Reader::from_path(root.join("data/adult-eval.csv"))?;
    let headers = reader.headers()?.clone();
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let index = |name: &str| headers.iter().position(|h| h == name).ok_or(format!("no column {name}"));
    // Pre-built batches, as the Python side pre-builds its arrays: reading is not timed.
    let mut batches = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = batch_rows.min(rows - start);
        let mut columns = Vec::new();
        for input in &inputs {
            let c = index(&input.name)?;
            let cells = (start..start + n).map(|r| &records[r % records.len()][c]);
            columns.push(if NUMERIC.contains(&input.name.as_str()) {
                Column::Float(cells.map(|s| s.parse().ok()).collect())
            } else {
                Column::String(cells.map(|s| Some(s.to_owned())).collect())
            });
        }
        batches.push(Batch { columns, rows: n, first_row: start as u64, lines: Vec::new() });
        start += n;
    }
    let columns: Vec<usize> = (0..inputs.len()).collect();
    let signature = Signature { inputs: inputs.clone(), output: OutputKind::Probability, threshold: 0.5 };
    let (digest, _) = sha256_file(&model)?;
    let mut scorer = load_scorer(&model, ArtifactFormat::TorchScript, &digest, &signature, device)?;
    let encoder = InputEncoder::new(&inputs);
    let mut encoded = Vec::new();
    for b in &batches {
        let mut x = Vec::new();
        encoder.encode(b, &columns, &mut x)?;
        encoded.push((x, b.rows));
    }
    let forward_model = TorchModel::load(&model, device)?;
    // Warm-up: the first forward passes of a TorchScript module are profiled and optimised.
    for _ in 0..3 {
        scorer.score_batch(&batches[0], &columns)?;
        forward_model.forward(&encoded[0].0, encoded[0].1, encoder.width())?;
    }
    let (mut best_runner, mut best_forward, mut best_encode) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut scratch = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..repeats {
        let t = Instant::now();
        for b in &batches {
            checksum += scorer.score_batch(b, &columns)?.iter().sum::<f64>();
        }
        best_runner = best_runner.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (x, n) in &encoded {
            checksum += forward_model.forward(x, *n, encoder.width())?.iter().sum::<f64>();
        }
        best_forward = best_forward.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in &batches {
            encoder.encode(b, &columns, &mut scratch)?;
        }
        best_encode = best_encode.min(t.elapsed().as_secs_f64());
    }
    println!("device {} rows {rows} batch {batch_rows} threads {}", scorer.device(), threads());
    println!("tollgate runner (encode + forward)  {:>12.0} rows/s", rows as f64 / best_runner);
    println!("tollgate forward (pre-encoded)      {:>12.0} rows/s", rows as f64 / best_forward);
    println!("tollgate encode only                {:>12.0} rows/s", rows as f64 / best_encode);
    println!("mean score {:.6}", checksum / (2 * repeats * rows) as f64);
    Ok(())
}
