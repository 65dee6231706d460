//! tollgate's dashboard (`tollgate serve` at `/`): the pages a person reads in a browser, as view
//! models built from what [`tollgate_controller::service::Service`] answers, rendered by the one
//! template engine ([`tollgate_render`], which escapes every value). No IO: the HTTP server
//! (`tollgate-webhooks`) reads the service and the store, hands the data here and sends the HTML.
//!
//! Pages: the release × environment matrix ([`matrix`]), one decision with its explanation,
//! approvals and gate results with inline SVG charts ([`decision`], [`chart`]), the audit
//! timeline ([`audit`]), sign-in and messages. Nothing needs a script, a CDN or a build step.

pub mod audit;
pub mod chart;
pub mod decision;
pub mod matrix;

#[cfg(test)]
mod tests;

use serde::Serialize;
use tollgate_render::{Engine, RenderError};

/// The dashboard's built-in templates.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("matrix.html", include_str!("../templates/matrix.html")),
    ("decision.html", include_str!("../templates/decision.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("signin.html", include_str!("../templates/signin.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("chart.html", include_str!("../templates/chart.html")),
];

/// Who is looking at a page: their name, whether they may approve anything, and the CSRF token
/// every form of theirs carries.
#[derive(Debug, Clone, Serialize)]
pub struct Viewer {
    /// The signed-in user.
    pub user: String,
    /// Their roles in `tollgate.yaml`, for the header.
    pub roles: Vec<String>,
    /// The session's CSRF token (hidden field `csrf` of every form that posts).
    pub csrf: String,
}

/// The dashboard's renderer.
pub struct Dashboard {
    engine: Engine,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard::new()
    }
}

#[derive(Serialize)]
struct Page<'a, T: Serialize> {
    title: &'a str,
    viewer: Option<&'a Viewer>,
    page: &'a T,
}

/// A message page: a refusal, an error, a confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The heading.
    pub heading: String,
    /// What happened.
    pub text: String,
    /// What to do about it, when there is something.
    pub hint: Option<String>,
    /// Where to go back to.
    pub back: String,
}

impl Dashboard {
    /// The renderer with the built-in templates.
    pub fn new() -> Dashboard {
        Dashboard { engine: Engine::new(TEMPLATES, None) }
    }

    fn page<T: Serialize>(&self, name: &str, title: &str, viewer: Option<&Viewer>, page: &T) -> Result<String, RenderError> {
        self.engine.render(name, Page { title, viewer, page })
    }

    /// The release × environment matrix.
    ///
    /// # Errors
    ///
    /// When a template fails to render (a bug: the view models are the templates' data).
    pub fn matrix(&self, viewer: &Viewer, m: &matrix::Matrix) -> Result<String, RenderError> {
        self.page("matrix.html", "Releases", Some(viewer), m)
    }

    /// One decision, explained.
    ///
    /// # Errors
    ///
    /// As [`Self::matrix`].
    pub fn decision(&self, viewer: &Viewer, d: &decision::DecisionPage) -> Result<String, RenderError> {
        let title = format!("{} → {}", d.release, d.environment);
        self.page("decision.html", &title, Some(viewer), d)
    }

    /// The audit timeline.
    ///
    /// # Errors
    ///
    /// As [`Self::matrix`].
    pub fn audit(&self, viewer: &Viewer, a: &audit::Timeline) -> Result<String, RenderError> {
        self.page("audit.html", "Audit trail", Some(viewer), a)
    }

    /// The sign-in form, with the reason the last attempt failed.
    ///
    /// # Errors
    ///
    /// As [`Self::matrix`].
    pub fn signin(&self, error: Option<&str>) -> Result<String, RenderError> {
        #[derive(Serialize)]
        struct SignIn<'a> {
            error: Option<&'a str>,
        }
        self.page("signin.html", "Sign in", None, &SignIn { error })
    }

    /// A message page (refusals and errors), for a signed-in `viewer` or nobody.
    ///
    /// # Errors
    ///
    /// As [`Self::matrix`].
    pub fn message(&self, viewer: Option<&Viewer>, m: &Message) -> Result<String, RenderError> {
        self.page("message.html", &m.heading, viewer, m)
    }
}

/// `s` percent-encoded as one path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    tollgate_github::encode_component(s)
}

/// The dashboard's path of one decision.
pub fn decision_href(release: &str, env: &str) -> String {
    format!("/releases/{}/environments/{}", enc(release), enc(env))
}

/// The CSS class of a state's cell (`s-blocked`, `s-awaitingapproval`, …).
pub(crate) fn state_class(state: &str) -> String {
    format!("s-{}", state.to_ascii_lowercase())
}

/// At most `n` characters of `s`, with an ellipsis when cut.
pub fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
