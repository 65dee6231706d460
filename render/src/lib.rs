//! tollgate's one template engine: every page, card and report a person reads is rendered here,
//! with [MiniJinja](https://docs.rs/minijinja) (see docs/adr/0046-*.md).
//!
//! - Templates named `*.html` or `*.svg` escape every value unless the template marks it
//!   `|safe`; `*.md`, `*.txt` and `*.json` templates do not escape.
//! - An undefined variable is an error, not an empty string: a template that names a field the
//!   data does not have fails at render time with the template's name and line.
//! - Templates come from the binary (built-in defaults) or from a directory a user owns (for
//!   example a copy of `model-cards/`); a directory's template of the same name wins, and a name
//!   that would leave the directory is refused.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

#[cfg(test)]
mod tests;

/// A failure to load or render a template.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template does not exist, in the directory or built in.
    #[error("no template named `{name}`")]
    Missing { name: String },
    /// A template name that would read outside the template directory.
    #[error("template name `{name}` leaves the template directory")]
    OutsideDir { name: String },
    /// The template's file could not be read.
    #[error("cannot read template `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The template is malformed, or rendering it failed (an undefined value, a bad filter).
    #[error("template `{name}`{}: {detail}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Template { name: String, line: Option<usize>, detail: String },
}

impl tollgate_error::Hint for RenderError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            RenderError::Missing { .. } => Some("copy the built-in templates (e.g. `model-cards/`) and keep their names".into()),
            RenderError::OutsideDir { .. } => Some("name templates by their path inside the template directory".into()),
            RenderError::Template { .. } => {
                Some("the data a template may use is documented beside the built-in templates; check the name of each field".into())
            }
            RenderError::Read { .. } => None,
        }
    }
}

/// Templates every family can include: the one stylesheet.
const SHARED: &[(&str, &str)] = &[("style.css", include_str!("../templates/style.css"))];

/// The template engine, with built-in templates and an optional user directory.
pub struct Engine {
    env: Environment<'static>,
}

impl Engine {
    /// An engine with the `builtin` templates (name, source), and, when `dir` is given,
    /// templates read from that directory first.
    pub fn new(builtin: &'static [(&'static str, &'static str)], dir: Option<PathBuf>) -> Engine {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(auto_escape);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_loader(move |name| load(builtin, dir.as_deref(), name));
        Engine { env }
    }

    /// Renders template `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, RenderError> {
        let template = self.env.get_template(name).map_err(|e| to_error(name, e))?;
        template.render(minijinja::value::Serde(ctx)).map_err(|e| to_error(name, e))
    }

    /// Renders template `name` with `ctx` into `out` (for large pages and reports).
    pub fn render_to(&self, name: &str, ctx: impl Serialize, out: impl std::io::Write) -> Result<(), RenderError> {
        let template = self.env.get_template(name).map_err(|e| to_error(name, e))?;
        template.render_captured_to(minijinja::value::Serde(ctx), out).map(|_| ()).map_err(|e| to_error(name, e))
    }

    /// The environment, to add filters and functions shared by a family of templates.
    pub fn env_mut(&mut self) -> &mut Environment<'static> {
        &mut self.env
    }
}

fn auto_escape(name: &str) -> AutoEscape {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm" | "svg" | "xml") => AutoEscape::Html,
        _ => AutoEscape::None,
    }
}

fn load(builtin: &[(&'static str, &'static str)], dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    if let Some(dir) = dir {
        let relative = Path::new(name);
        if relative.is_absolute() || relative.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "template name leaves the template directory"));
        }
        let path = dir.join(relative);
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("cannot read `{}`", path.display()))
                    .with_source(e));
            }
        }
    }
    Ok(builtin.iter().chain(SHARED).find(|(n, _)| *n == name).map(|(_, source)| (*source).to_owned()))
}

fn to_error(name: &str, e: minijinja::Error) -> RenderError {
    match e.kind() {
        minijinja::ErrorKind::TemplateNotFound => RenderError::Missing { name: name.to_owned() },
        minijinja::ErrorKind::InvalidOperation if e.detail() == Some("template name leaves the template directory") => {
            RenderError::OutsideDir { name: name.to_owned() }
        }
        _ => {
            let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
            if let (Some(io), Some(detail)) = (io, e.detail())
                && let Some(path) = detail.strip_prefix("cannot read `").and_then(|d| d.strip_suffix('`'))
            {
                return RenderError::Read { path: PathBuf::from(path), source: std::io::Error::new(io.kind(), io.to_string()) };
            }
            RenderError::Template {
                name: e.name().unwrap_or(name).to_owned(),
                line: e.line(),
                detail: e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string()),
            }
        }
    }
}
