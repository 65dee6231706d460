//! tollgate's TorchScript model runner: loads a verified artifact with libtorch (through tch)
//! on the CPU or a CUDA device and scores batches under no-grad. The one crate of the
//! workspace that links libtorch; everything that does not depend on the model's format
//! (digest checks, signatures, input encoding, output checks, the `Scorer` seam) is
//! `tollgate_gates::runner`'s. The controller depends on this crate behind its `torch`
//! feature; see docs/adr/0012-tch-and-libtorch-for-the-model-runner.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{CModule, Kind, Tensor};
use tollgate_gates::dataset::{Batch, Sha256Digest};
use tollgate_gates::runner::{ArtifactFormat, Device, InputEncoder, OutputKind, RunnerError, Signature, check_outputs, verify_artifact};
use tollgate_gates::scorer::Scorer;

/// The libtorch version this crate links, as its build read it from the wheel's
/// `torch/version.py` (e.g. `2.13.0+cu130`), or `unknown`.
pub fn libtorch_version() -> &'static str {
    env!("TOLLGATE_LIBTORCH_VERSION")
}

/// Verifies a model artifact against its pinned digest, then loads it for scoring with
/// `signature` on `device`.
///
/// # Errors
/// The artifact fails verification, libtorch cannot load it, or CUDA was asked for and is not
/// there.
pub fn load_scorer(
    path: &Path,
    format: ArtifactFormat,
    expected: &Sha256Digest,
    signature: &Signature,
    device: Device,
) -> Result<ModelScorer, RunnerError> {
    verify_artifact(path, expected)?;
    let model = match format {
        ArtifactFormat::TorchScript => TorchModel::load(path, device)?,
    };
    Ok(ModelScorer::new(model, signature))
}

/// libtorch's error without the C++ stack trace it appends (dozens of `frame #N` lines).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TorchError(String);

impl From<tch::TchError> for TorchError {
    fn from(e: tch::TchError) -> TorchError {
        let text = e.to_string();
        let short = text.split("\nException raised from").next().unwrap_or(&text);
        let short = short.split("\nframe #").next().unwrap_or(short);
        TorchError(short.trim_end().to_owned())
    }
}

/// A TorchScript module loaded on a device, in eval mode.
#[derive(Debug)]
pub struct TorchModel {
    path: PathBuf,
    module: CModule,
    device: tch::Device,
}

/// The device `device` resolves to here.
///
/// # Errors
/// `cuda` was asked for and libtorch sees no GPU.
fn resolve(device: Device) -> Result<tch::Device, RunnerError> {
    match device {
        Device::Cpu => Ok(tch::Device::Cpu),
        Device::Auto => Ok(tch::Device::cuda_if_available()),
        Device::Cuda if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
        Device::Cuda => Err(RunnerError::NoCuda),
    }
}

fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".to_owned(),
    }
}

impl TorchModel {
    /// Loads `path` (already verified) onto `device`.
    ///
    /// # Errors
    /// CUDA is missing when asked for, or libtorch cannot load the file.
    pub fn load(path: &Path, device: Device) -> Result<TorchModel, RunnerError> {
        let device = resolve(device)?;
        let mut module = CModule::load_on_device(path, device)
            .map_err(|e| RunnerError::Load { path: path.to_owned(), source: Box::new(TorchError::from(e)) })?;
        module.set_eval();
        keep_freed_memory();
        Ok(TorchModel { path: path.to_owned(), module, device })
    }

    /// `cpu` or `cuda:N`.
    pub fn device(&self) -> String {
        device_name(self.device)
    }

    /// Runs the model on `rows` rows of `width` inputs (row-major) and returns one value per
    /// row: the output itself, or the second column of a `[rows, 2]` output.
    ///
    /// # Errors
    /// The forward pass fails or returns a shape the runner cannot read.
    pub fn forward(&self, input: &[f32], rows: usize, width: usize) -> Result<Vec<f64>, RunnerError> {
        let mut out = Vec::with_capacity(rows);
        self.forward_into(input, rows, width, &mut out)?;
        Ok(out)
    }

    /// [`TorchModel::forward`] into `out` (its contents replaced, its allocation reused).
    ///
    /// The input is copied once into a tensor (`unsafe_code` is forbidden, which rules out
    /// `Tensor::from_blob` over `input`); a `float32` output is read back as `float32` and
    /// widened here, so no `float64` tensor is allocated.
    ///
    /// # Errors
    /// The forward pass fails or returns a shape the runner cannot read.
    pub fn forward_into(&self, input: &[f32], rows: usize, width: usize, out: &mut Vec<f64>) -> Result<(), RunnerError> {
        let forward_error =
            |e: tch::TchError| RunnerError::Forward { path: self.path.clone(), rows, width, source: Box::new(TorchError::from(e)) };
        let _guard = tch::no_grad_guard();
        let x = Tensor::from_slice(input).view([rows as i64, width as i64]);
        let x = if self.device == tch::Device::Cpu { x } else { x.to_device(self.device) };
        let y = self.module.forward_ts(&[x]).map_err(forward_error)?;
        let shape = y.size();
        let y = match shape.as_slice() {
            [n] if *n == rows as i64 => y,
            [n, 1] if *n == rows as i64 => y.view([rows as i64]),
            [n, 2] if *n == rows as i64 => y.select(1, 1),
            _ => return Err(RunnerError::OutputShape { path: self.path.clone(), shape, rows }),
        };
        let y = if self.device == tch::Device::Cpu { y } else { y.to_device(tch::Device::Cpu) };
        out.clear();
        if y.kind() == Kind::Float {
            let mut values = vec![0.0f32; rows];
            y.contiguous().f_copy_data(&mut values, rows).map_err(forward_error)?;
            out.extend(values.iter().map(|&v| f64::from(v)));
        } else {
            out.resize(rows, 0.0);
            y.to_kind(Kind::Double).contiguous().f_copy_data(out, rows).map_err(forward_error)?;
        }
        Ok(())
    }
}

/// Makes glibc's allocator keep the memory libtorch frees between batches instead of handing
/// it back to the kernel after every batch.
///
/// Each forward pass allocates its intermediate tensors (a batch of 4,096 rows x 41 inputs is
/// 0.7 MB per tensor, of 65,536 rows 11 MB) and frees them at the end. glibc serves blocks above
/// its mmap threshold (128 KiB at start) with `mmap` and, once it has freed one, raises the
/// threshold to that block's size and the heap's trim threshold to twice that. With the
/// thresholds that one batch's tensors set, the heap grows and is trimmed again on every batch,
/// so every batch faults its pages in anew: measured, half of the forward pass's time was page
/// faults and `clear_page` in the kernel (`perf`), and the forward pass ran 4x slower than the
/// same model from Python, whose earlier allocations had already raised the thresholds.
///
/// Freeing one 32 MiB block (glibc's largest dynamic mmap threshold) raises the mmap threshold
/// to 32 MiB and the trim threshold to 64 MiB for the process, as a long-running Python process
/// ends up with; the cost is that up to 64 MiB of freed heap is kept for reuse. `mallopt` would
/// say this directly but needs `unsafe` FFI, which the workspace forbids. The block is allocated
/// as a tensor, through libtorch's CPU allocator (glibc's `posix_memalign`): Rust's own
/// allocations go to mimalloc (ADR 0043) and would not reach glibc.
fn keep_freed_memory() {
    const BLOCK: i64 = 32 * 1024 * 1024 - 64 * 1024;
    let block = Tensor::empty([BLOCK], (Kind::Uint8, tch::Device::Cpu));
    // Without black_box the optimiser may drop an allocation nothing reads.
    drop(std::hint::black_box(block));
}

/// Sets libtorch's intra-op thread count for this process (`torch.set_num_threads`); libtorch's
/// default is one thread per physical core.
pub fn set_threads(threads: usize) {
    tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
}

/// libtorch's intra-op thread count.
pub fn threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1)
}

/// A [`TorchModel`] with its signature: encodes a batch's input columns, runs the model and
/// checks its outputs. Implements [`Scorer`].
#[derive(Debug)]
pub struct ModelScorer {
    model: TorchModel,
    encoder: InputEncoder,
    output: OutputKind,
    /// The encoded input of the last batch, reused so that batches allocate nothing for it.
    buffer: Vec<f32>,
    rows: u64,
    seconds: f64,
}

impl ModelScorer {
    pub fn new(model: TorchModel, signature: &Signature) -> ModelScorer {
        ModelScorer {
            model,
            encoder: InputEncoder::new(&signature.inputs),
            output: signature.output,
            buffer: Vec::new(),
            rows: 0,
            seconds: 0.0,
        }
    }

    pub fn device(&self) -> String {
        self.model.device()
    }

    /// Rows scored so far and the seconds spent on them.
    pub fn totals(&self) -> (u64, f64) {
        (self.rows, self.seconds)
    }

    /// Scores a batch whose input columns are `columns` (signature order).
    ///
    /// # Errors
    /// An input cell is unusable, the model fails, or an output breaks the signature.
    pub fn score_batch(&mut self, batch: &Batch, columns: &[usize]) -> Result<Vec<f64>, RunnerError> {
        let start = Instant::now();
        self.encoder.encode(batch, columns, &mut self.buffer)?;
        let scores = self.model.forward(&self.buffer, batch.rows, self.encoder.width())?;
        self.seconds += start.elapsed().as_secs_f64();
        self.rows += batch.rows as u64;
        check_outputs(&self.model.path, self.output, batch, &scores)?;
        Ok(scores)
    }
}

impl Scorer for ModelScorer {
    fn score(&mut self, batch: &Batch, columns: &[usize]) -> Result<Vec<f64>, RunnerError> {
        self.score_batch(batch, columns)
    }
}

#[cfg(test)]
mod tests;
