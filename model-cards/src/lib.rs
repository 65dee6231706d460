//! Model cards: what a release of a model is, what it is for, how it was evaluated and who let
//! it into an environment, after Mitchell et al. 2019 ("Model Cards for Model Reporting") and
//! the Hugging Face model card template.
//!
//! A [`Card`] is data: the controller assembles it from the Model's card fields, the datasets'
//! lineage, the gate results, the decision, the approvals and the promotion history, records it
//! as `model_card.recorded` at each promotion, and `tollgate model-card` prints it. Markdown
//! and HTML are renderings of that data by the templates in `model-cards/templates/` (built in;
//! an organisation may copy the folder, change the templates and pass it with `--templates`).
//! The fields a template may use are documented in `model-cards/README.md`.
//!
//! Nothing here does IO but reading a template directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_render::{Engine, RenderError};

#[cfg(test)]
mod tests;

/// The card format written in every card's `format` field.
pub const FORMAT: &str = "tollgate-model-card/1";

/// The built-in templates, by name.
pub const TEMPLATES: &[(&str, &str)] =
    &[("card.md", include_str!("../templates/card.md")), ("card.html", include_str!("../templates/card.html"))];

/// A model card: one release of a model, into one environment, at one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// [`FORMAT`].
    pub format: String,
    /// The release.
    pub release: String,
    /// The environment the card is about.
    pub environment: String,
    /// The config repo's commit the card was made from.
    pub commit: String,
    /// The instant the decision it reports was made for (RFC 3339).
    pub generated_at: String,
    /// Model details.
    pub model: ModelDetails,
    /// What the model is for and not for, its limits and risks (the Model's `spec.card`).
    pub uses: Uses,
    /// The datasets the release names, with their lineage: evaluation, reference, training.
    pub datasets: Vec<DatasetCard>,
    /// The gates: thresholds, values, verdicts and per-group tables (`None`: the release
    /// defines no gates).
    pub evaluation: Option<Evaluation>,
    /// Where and how the model ran for the gates, and what is served.
    pub runtime: Runtime,
    /// The decision for this environment.
    pub decision: DecisionSummary,
    /// How people oversee promotions into this environment.
    pub oversight: Oversight,
    /// Approvals counted for the decision.
    pub approvals: Vec<ApprovalRow>,
    /// Promotions of this model into this environment, oldest first.
    pub promotions: Vec<PromotionRow>,
    /// Card sections the config repo does not provide, by field path (`card.intendedUse`).
    pub missing: Vec<String>,
}

/// Model details (Mitchell et al. §4.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDetails {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `binaryClassification`, `multiclassClassification` or `regression`.
    pub task: Option<String>,
    /// Team or person accountable.
    pub owner: Option<String>,
    /// What the model does.
    pub description: Option<String>,
    /// What changed in this version.
    pub version_description: Option<String>,
    /// When this version was made.
    pub created_at: Option<String>,
    /// The artifact's location.
    pub artifact_uri: Option<String>,
    /// The artifact's pinned SHA-256.
    pub artifact_sha256: Option<String>,
    /// The artifact's format (`torchscript`).
    pub artifact_format: Option<String>,
    /// Input columns, in order, as `name (type)`.
    pub inputs: Vec<String>,
    /// What the output means.
    pub output: Option<String>,
}

/// Intended use, limitations, ethics (Mitchell et al. §4.2, §4.8, §4.9; the Model's `spec.card`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uses {
    /// What the model is for, and who uses it.
    pub intended_use: Option<String>,
    /// Uses it is not fit for.
    pub out_of_scope_use: Option<String>,
    /// Known limitations and failure modes.
    pub limitations: Option<String>,
    /// Risks, affected groups, mitigations.
    pub ethical_considerations: Option<String>,
    /// How people oversee the model's outputs in use (EU AI Act Art. 14).
    pub human_oversight: Option<String>,
    /// What it was trained on.
    pub training_data: Option<String>,
    /// What it was evaluated on, in words.
    pub evaluation_data: Option<String>,
    /// Who to ask.
    pub contact: Option<String>,
}

/// A dataset the release names, with its lineage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetCard {
    /// `evaluation`, `reference` or `training`.
    pub role: String,
    /// The Dataset's name.
    pub name: String,
    /// Whether the config repo holds a Dataset of that name.
    pub declared: bool,
    /// Its description.
    pub description: Option<String>,
    /// Where the data is.
    pub uri: Option<String>,
    /// Its pinned SHA-256.
    pub sha256: Option<String>,
    /// `csv` or `parquet`.
    pub format: Option<String>,
    /// Rows, when declared.
    pub rows: Option<u64>,
    /// The label column.
    pub label: Option<String>,
    /// Sensitive features.
    pub sensitive_features: Vec<String>,
    /// Columns marked as personal data.
    pub pii_columns: Vec<String>,
    /// Where the data came from.
    pub source: Option<String>,
    /// When it was collected.
    pub collected_at: Option<String>,
    /// Datasets it was derived from.
    pub derived_from: Vec<String>,
    /// How it was made from its source, step by step.
    pub transformations: Vec<String>,
}

/// The gates (Mitchell et al. §4.4–4.7: factors, metrics, evaluation data, quantitative analyses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Whether every threshold passed (`false` too when the gates could not be computed).
    pub passed: bool,
    /// Why the gates could not be computed, when they could not.
    pub error: Option<String>,
    /// Digest of the results (what approvals bind to).
    pub digest: Option<String>,
    /// The evaluation dataset.
    pub dataset: Option<String>,
    /// Its SHA-256 as read.
    pub dataset_sha256: Option<String>,
    /// The baseline compared against, `name@version`.
    pub baseline: Option<String>,
    /// `model` or `column COL`.
    pub scored_by: Option<String>,
    /// Every threshold with its value and verdict.
    pub thresholds: Vec<ThresholdRow>,
    /// Per-group metrics, one table per grouping the fairness thresholds name.
    pub groups: Vec<GroupTable>,
    /// What was not checked, and why.
    pub warnings: Vec<String>,
}

/// One threshold and its verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdRow {
    /// `quality`, `fairness`, `dataQuality` or `drift`.
    pub category: String,
    /// The metric.
    pub metric: String,
    /// What it is held to, in words (`≥ 0.7`, `≤ 0.1`, `regression ≤ 0.02`), with its
    /// grouping or column.
    pub bound: String,
    /// The value measured.
    pub value: Option<f64>,
    /// The baseline's value.
    pub baseline_value: Option<f64>,
    /// `pass`, `fail` or `notEvaluated`.
    pub verdict: String,
    /// Why it failed or was not evaluated.
    pub reasons: Vec<String>,
}

/// The groups of one grouping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTable {
    /// The sensitive features intersected.
    pub features: Vec<String>,
    /// The metric columns, in order.
    pub metrics: Vec<String>,
    /// One row per group.
    pub rows: Vec<GroupRow>,
}

/// One group's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    /// The group's values of the features, joined with ` × `.
    pub group: String,
    /// Rows in the group.
    pub rows: u64,
    /// Values, in the order of [`GroupTable::metrics`] (`None`: undefined on this group).
    pub values: Vec<Option<f64>>,
}

/// Where the model ran for the gates, and what is served (the HF template's "technical
/// specifications").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Runtime {
    /// `cpu`, `cuda:N`, or `none` when predictions were read from the data.
    pub device: Option<String>,
    /// The libtorch the model ran with.
    pub libtorch_version: Option<String>,
    /// The artifact digest the run verified.
    pub model_sha256: Option<String>,
    /// Rows scored.
    pub rows: Option<u64>,
    /// The serving image, pinned by digest.
    pub serving_image: Option<String>,
    /// The policy bundle's digest.
    pub policy_digest: Option<String>,
}

/// The decision the card reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionSummary {
    /// The decision id.
    pub id: String,
    /// Its state (`Promoted`, `AwaitingApproval`, …).
    pub state: String,
    /// The release's content digest, which approvals bind to.
    pub content_digest: String,
    /// Why it is what it is.
    pub reasons: Vec<String>,
}

/// Human oversight of promotions into the environment (its `spec.approvals`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oversight {
    /// Approvals required.
    pub required_approvals: u32,
    /// Groups whose members may approve.
    pub groups: Vec<String>,
    /// Whether the authors of the change may not approve it.
    pub separation_of_duties: bool,
}

/// One approval counted for the decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRow {
    /// Who approved.
    pub user: String,
    /// When.
    pub at: String,
    /// How it was given: `cli`, `api` or `github` (a pull-request review).
    pub via: String,
}

/// One promotion of the model into the environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRow {
    /// The release promoted.
    pub release: String,
    /// The commit that wrote it.
    pub commit: String,
    /// Its decision.
    pub decision: Option<String>,
    /// Its content digest.
    pub content_digest: Option<String>,
    /// Whether it was found in Git and recorded afterwards (healed).
    pub healed: bool,
}

impl Card {
    /// The fields of the Model's `spec.card` (and the oversight a card should describe) that
    /// the config repo leaves empty, by field path.
    pub fn missing_fields(uses: &Uses) -> Vec<String> {
        let fields = [
            ("card.intendedUse", &uses.intended_use),
            ("card.outOfScopeUse", &uses.out_of_scope_use),
            ("card.limitations", &uses.limitations),
            ("card.ethicalConsiderations", &uses.ethical_considerations),
            ("card.humanOversight", &uses.human_oversight),
            ("card.trainingData", &uses.training_data),
            ("card.contact", &uses.contact),
        ];
        fields.iter().filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty())).map(|(k, _)| (*k).to_owned()).collect()
    }
}

/// How a card is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown (`card.md`), for a repository or a model hub.
    Markdown,
    /// A self-contained HTML page (`card.html`).
    Html,
    /// The card's data, pretty JSON.
    Json,
}

/// Why a card could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// A template failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The card could not be serialized.
    #[error("cannot write the card as JSON")]
    Json(#[source] serde_json::Error),
}

impl tollgate_error::Hint for CardError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            CardError::Render(e) => e.hint(),
            CardError::Json(_) => None,
        }
    }
}

/// Renders cards with the built-in templates or an organisation's copy of them.
pub struct Renderer {
    engine: Engine,
}

impl Renderer {
    /// The built-in templates, or those in `dir` first (a copy of `model-cards/templates/`).
    pub fn new(dir: Option<PathBuf>) -> Renderer {
        Renderer { engine: Engine::new(TEMPLATES, dir) }
    }

    /// `card` as `format`.
    ///
    /// # Errors
    ///
    /// [`CardError::Render`] when a template is missing or fails (a user's template naming a
    /// field the card does not have names the template and line).
    pub fn render(&self, card: &Card, format: Format) -> Result<String, CardError> {
        match format {
            Format::Markdown => Ok(self.engine.render("card.md", card)?),
            Format::Html => Ok(self.engine.render("card.html", card)?),
            Format::Json => serde_json::to_string_pretty(card)
                .map(|mut s| {
                    s.push('\n');
                    s
                })
                .map_err(CardError::Json),
        }
    }
}
