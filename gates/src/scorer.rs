//! The seam between evaluation and model runtimes: [`eval::evaluate_with`](crate::eval::evaluate_with)
//! asks a [`Scorer`] for each batch's scores and knows nothing of how a model runs. The
//! TorchScript implementation is `tollgate_torch::ModelScorer`, in a crate of its own, so this
//! crate links no model runtime.

use crate::dataset::Batch;
use crate::runner::RunnerError;

/// Scores the rows of a batch from the model's input columns, for
/// [`Predictions::Model`](crate::eval::Predictions::Model).
pub trait Scorer {
    /// One score per row of `batch`; `columns` are the batch indices of the model's inputs, in
    /// the order the model takes them.
    ///
    /// # Errors
    /// An input is unusable or the model fails.
    fn score(&mut self, batch: &Batch, columns: &[usize]) -> Result<Vec<f64>, RunnerError>;
}
