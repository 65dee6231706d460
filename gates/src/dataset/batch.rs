//! Typed columns of a batch of rows.

/// One column's values in a batch; `None` is null.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Integer(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    String(Vec<Option<String>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Integer(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Boolean(v) => v.len(),
            Column::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Integer(v) => v[row].is_none(),
            Column::Float(v) => v[row].is_none(),
            Column::Boolean(v) => v[row].is_none(),
            Column::String(v) => v[row].is_none(),
        }
    }

    /// The value as a number, for range checks and numeric metrics.
    pub fn number(&self, row: usize) -> Option<f64> {
        match self {
            Column::Integer(v) => v[row].map(|x| x as f64),
            Column::Float(v) => v[row],
            Column::Boolean(v) => v[row].map(|b| if b { 1.0 } else { 0.0 }),
            Column::String(v) => v[row].as_deref().and_then(|s| s.trim().parse().ok()),
        }
    }

    /// The value as text, as a CSV would hold it (for allowed values and group names).
    pub fn text(&self, row: usize) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Column::Integer(v) => v[row].map(|x| Cow::Owned(x.to_string())),
            Column::Float(v) => v[row].map(|x| Cow::Owned(x.to_string())),
            Column::Boolean(v) => v[row].map(|b| Cow::Borrowed(if b { "true" } else { "false" })),
            Column::String(v) => v[row].as_deref().map(Cow::Borrowed),
        }
    }

    /// The value as a binary label: booleans, `0`/`1` integers and floats.
    pub fn binary(&self, row: usize) -> Option<Option<bool>> {
        match self {
            Column::Boolean(v) => Some(v[row]),
            Column::Integer(v) => match v[row] {
                None => Some(None),
                Some(0) => Some(Some(false)),
                Some(1) => Some(Some(true)),
                Some(_) => None,
            },
            Column::Float(v) => match v[row] {
                None => Some(None),
                Some(0.0) => Some(Some(false)),
                Some(1.0) => Some(Some(true)),
                Some(_) => None,
            },
            Column::String(v) => match v[row].as_deref().map(str::trim) {
                None => Some(None),
                Some("0") => Some(Some(false)),
                Some("1") => Some(Some(true)),
                Some(s) if s.eq_ignore_ascii_case("false") => Some(Some(false)),
                Some(s) if s.eq_ignore_ascii_case("true") => Some(Some(true)),
                Some(_) => None,
            },
        }
    }
}

/// A batch of rows: one [`Column`] per requested column, in request order.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub columns: Vec<Column>,
    pub rows: usize,
    /// Index (0-based) of the batch's first row in the file.
    pub first_row: u64,
    /// For CSV, the file line of each row (1-based, header is line 1), for messages.
    pub lines: Vec<u64>,
}

impl Batch {
    /// The file line of row `row` of this batch, or its 1-based row number when the format
    /// has no lines.
    pub fn line(&self, row: usize) -> u64 {
        self.lines.get(row).copied().unwrap_or(self.first_row + row as u64 + 1)
    }
}
