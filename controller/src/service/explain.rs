//! What `tollgate explain` prints and the dashboard's decision page shows: one decision's
//! reasons and inputs as labelled lines, built once here so the two cannot disagree.

use serde::Serialize;
use tollgate_decision::{GateInput, PromotedInput};

use super::Explanation;

/// An explanation as lines a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplainText {
    /// `release -> environment: State`.
    pub headline: String,
    /// `decision ID at TIME`.
    pub decided: String,
    /// Why the decision is what it is: (kind, message), in the decision's order.
    pub why: Vec<(String, String)>,
    /// Every input: (label, value); a label is empty on a line that continues the one above.
    pub inputs: Vec<(String, String)>,
}

impl Explanation {
    /// The lines of `tollgate explain` for this explanation.
    pub fn text(&self) -> ExplainText {
        let d = &self.decision;
        let i = &d.inputs;
        let why = d
            .reasons
            .iter()
            .map(|r| {
                let kind = serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                (kind, r.message.clone())
            })
            .collect();
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
        row("commit", i.commit.clone().unwrap_or_default());
        row("policy bundle", i.policy_digest.clone().unwrap_or_else(|| "(did not compile)".into()));
        row("content digest", i.content_digest.clone());
        row(
            "model",
            format!(
                "{}@{} sha256:{}",
                i.model["name"].as_str().unwrap_or(""),
                i.model["version"].as_str().unwrap_or(""),
                i.model["sha256"].as_str().unwrap_or("(unknown)")
            ),
        );
        row("image", i.image.clone().unwrap_or_else(|| "(none)".into()));
        row("authors", if self.authors.is_empty() { "(unknown)".into() } else { self.authors.join(", ") });
        row(
            "previous stage",
            match &i.previous {
                None => "(first environment)".into(),
                Some((env, true)) => format!("{env}: promoted with this content"),
                Some((env, false)) => format!("{env}: not promoted with this content"),
            },
        );
        if i.findings.is_empty() {
            row("findings", "none".into());
        } else {
            for (n, f) in i.findings.iter().enumerate() {
                row(if n == 0 { "findings" } else { "" }, format!("{}: {} [{}]", f.location, f.message, f.rule));
            }
        }
        match &i.gates {
            GateInput::NotRequired => row("gates", "none required here".into()),
            GateInput::Unavailable { reason } => row("gates", format!("unavailable: {reason}")),
            GateInput::Results { digest, required, failures } => {
                let parts: Vec<String> = required
                    .iter()
                    .map(|(c, p)| {
                        let outcome = match p {
                            Some(true) => "pass",
                            Some(false) => "FAIL",
                            None => "not defined",
                        };
                        format!("{c} {outcome}")
                    })
                    .collect();
                row("gates", format!("{} (results {})", parts.join(", "), &digest[..digest.len().min(12)]));
                for f in failures {
                    row("", f.clone());
                }
            }
        }
        let a = &i.approvals;
        let groups = if a.policy.groups.is_empty() { "any approver".to_owned() } else { a.policy.groups.join(", ") };
        row(
            "approvals",
            format!(
                "{} (need {} from {groups}{})",
                a.summary(),
                a.policy.required,
                if a.policy.separation_of_duties { "; authors may not approve" } else { "" }
            ),
        );
        for c in &a.counted {
            row("", format!("counted: {} at {} via {}", c.user, c.at, c.via));
        }
        for (c, why) in &a.ignored {
            row("", format!("not counted: {} at {}: {why}", c.user, c.at));
        }
        let w = &i.window;
        let mut window = format!("{}: {}", if w.open { "open" } else { "closed" }, w.reason);
        if let Some(u) = &w.until {
            window.push_str(&format!(" (until {u})"));
        }
        if let Some(n) = w.next_open.as_ref().filter(|_| !w.open) {
            window.push_str(&format!("; next opening {n}"));
        }
        row("window", window);
        row(
            "in Git",
            match &i.promoted {
                PromotedInput::Nothing => "nothing promoted for this model here".into(),
                PromotedInput::This { content_digest, .. } => format!(
                    "this release{}",
                    if content_digest.as_deref() == Some(i.content_digest.as_str()) { "" } else { " with other content" }
                ),
                PromotedInput::Other { release, by_tollgate, .. } => {
                    format!("`{release}`{}", if *by_tollgate { " (promoted by tollgate)" } else { " (not by a tollgate promotion)" })
                }
            },
        );
        if let Some(pr) = &i.closed_pull_request {
            row("pull request", format!("#{} closed without merging ({})", pr.number, pr.url));
        }
        if let Some(f) = &self.failure {
            row("promotion", format!("failed (attempt {}): {}", f.attempts, f.reason));
        }
        ExplainText {
            headline: format!("{} -> {}: {}", d.release, d.environment, d.state),
            decided: format!("decision {} at {}", d.id, i.now),
            why,
            inputs: rows,
        }
    }
}
