//! The typed columns a dataset declares.

use serde::{Deserialize, Serialize};

/// A dataset's declared columns (the `schema` of a Dataset spec).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetSchema {
    pub columns: Vec<ColumnSpec>,
}

/// The type values of a column are read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integers.
    #[serde(alias = "int", alias = "int64")]
    Integer,
    /// 64-bit floats; integers are accepted.
    #[serde(alias = "double", alias = "number", alias = "float64")]
    Float,
    /// `true`/`false` (any case) or `1`/`0`.
    #[serde(alias = "bool")]
    Boolean,
    /// Any text; numbers in Parquet are formatted.
    #[serde(alias = "str", alias = "categorical")]
    String,
}

impl ColumnType {
    /// How the type is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Integer => "an integer",
            ColumnType::Float => "a number",
            ColumnType::Boolean => "a boolean (true/false or 1/0)",
            ColumnType::String => "text",
        }
    }
}

/// Inclusive bounds on a numeric column's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// One declared column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether nulls are allowed; a null in a non-nullable column is a data-quality finding.
    #[serde(default = "yes")]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// The only values allowed (compared as text), if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_values: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

impl ColumnSpec {
    /// A nullable column without constraints.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> ColumnSpec {
        ColumnSpec { name: name.into(), ty, nullable: true, range: None, allowed_values: None }
    }
}
