//! An [`Evaluation`] as people read it: three check runs (`tollgate/check`, `tollgate/gates`,
//! `tollgate/release`) and the one report comment. Pure: same evaluation, same text (golden
//! tests in `tests.rs`).

use std::fmt::Write as _;

use tollgate_decision::{ReasonKind, State};
use tollgate_github::{Annotation, CheckRun, Conclusion, Level};
use tollgate_spec::diag::{Finding, Severity};

use super::evaluate::Evaluation;

/// The check runs' names.
pub const CHECK: &str = "tollgate/check";
/// The gates' run.
pub const GATES: &str = "tollgate/gates";
/// What the controller would decide.
pub const RELEASE: &str = "tollgate/release";

/// The three check runs of an evaluation.
pub fn check_runs(e: &Evaluation) -> Vec<CheckRun> {
    vec![check_run(e), gates_run(e), release_run(e)]
}

fn run(name: &str, e: &Evaluation, conclusion: Conclusion, title: String, summary: String, annotations: Vec<Annotation>) -> CheckRun {
    CheckRun {
        name: name.to_owned(),
        head_sha: e.head_sha.clone(),
        conclusion,
        title,
        summary,
        text: None,
        annotations,
        details_url: None,
        external_id: Some(format!("{}@{}", name, e.head_sha)),
    }
}

fn annotation(f: &Finding) -> Annotation {
    let line = f.line.unwrap_or(1).max(1);
    let mut message = f.message.clone();
    if let Some(h) = &f.hint {
        let _ = write!(message, "\nhint: {h}");
    }
    Annotation {
        path: f.file.clone(),
        start_line: line,
        end_line: line,
        level: match f.severity {
            Severity::Warning => Level::Warning,
            Severity::Error | Severity::Fatal => Level::Failure,
        },
        title: Some(format!("tollgate: {}", f.rule)),
        message,
    }
}

fn check_run(e: &Evaluation) -> CheckRun {
    let s = &e.check.summary;
    let conclusion = if s.fatal + s.errors > 0 { Conclusion::Failure } else { Conclusion::Success };
    let title = match (s.fatal + s.errors, s.warnings) {
        (0, 0) => "no problems".to_owned(),
        (0, w) => format!("{w} warning{}", plural(w)),
        (n, 0) => format!("{n} problem{}", plural(n)),
        (n, w) => format!("{n} problem{}, {w} warning{}", plural(n), plural(w)),
    };
    let files: Vec<String> = e.check.changed_files.clone().unwrap_or_default();
    let mut summary = format!(
        "Checked {} of {} documents that the change since `{}` touches or affects ({} file{} changed).\n",
        e.check.documents_checked,
        e.check.documents,
        short(&e.base_sha),
        files.len(),
        plural(files.len())
    );
    if !e.check.findings.is_empty() {
        summary.push_str("\n| severity | file | line | rule | message |\n|---|---|---|---|---|\n");
        for f in &e.check.findings {
            let _ = writeln!(
                summary,
                "| {} | `{}` | {} | `{}` | {} |",
                f.severity.as_str(),
                f.file,
                f.line.map_or_else(|| "–".to_owned(), |l| l.to_string()),
                f.rule,
                cell(&f.message)
            );
        }
    }
    run(CHECK, e, conclusion, title, summary, e.check.findings.iter().map(annotation).collect())
}

fn gates_run(e: &Evaluation) -> CheckRun {
    let mut summary = String::new();
    let mut failed = 0;
    let mut ran = 0;
    for r in &e.releases {
        let Some(g) = &r.gates else { continue };
        ran += 1;
        let ok = g.error.is_none() && g.categories.values().all(|p| *p);
        if !ok {
            failed += 1;
        }
        let _ = writeln!(summary, "### `{}`: {}\n", r.name, if ok { "gates pass" } else { "gates fail" });
        if let Some(err) = &g.error {
            let _ = writeln!(summary, "The gates could not run: {}\n", cell(err));
        }
        if !g.categories.is_empty() {
            summary.push_str("| category | result |\n|---|---|\n");
            for (c, pass) in &g.categories {
                let _ = writeln!(summary, "| {c} | {} |", if *pass { "pass" } else { "**fail**" });
            }
            summary.push('\n');
        }
        for f in &g.failures {
            let _ = writeln!(summary, "- {}", cell(f));
        }
        if let Some(d) = &g.digest {
            let _ = writeln!(summary, "\nResults digest `{}`.\n", short(d));
        }
    }
    let (conclusion, title) = match (ran, failed) {
        (0, _) => (Conclusion::Neutral, "no release with gates changes".to_owned()),
        (n, 0) => (Conclusion::Success, format!("gates pass for {n} release{}", plural(n))),
        (n, f) => (Conclusion::Failure, format!("gates fail for {f} of {n} release{}", plural(n))),
    };
    if ran == 0 {
        summary = "This change touches no release that has gates.\n".to_owned();
    }
    run(GATES, e, conclusion, title, summary, Vec::new())
}

fn release_run(e: &Evaluation) -> CheckRun {
    let mut summary = String::new();
    let mut blocked = 0;
    let mut annotations = Vec::new();
    if e.releases.is_empty() {
        summary.push_str("This change touches no release: merging it promotes nothing.\n");
    } else {
        summary
            .push_str("If this change is merged, the controller decides:\n\n| release | environment | state | approvals | why |\n|---|---|---|---|---|\n");
    }
    for r in &e.releases {
        for d in &r.decisions {
            let why = d.reasons.first().map_or_else(String::new, |r| cell(&r.message));
            let _ = writeln!(summary, "| `{}` | {} | {} | {} | {} |", r.name, d.environment, d.state.as_str(), approvals(d), why);
            if d.state == State::Blocked {
                blocked += 1;
                // One annotation per line the reasons point at: gates at `spec.gates`, what
                // the promotion waits for at `spec.environment`, the rest at the name.
                let mut at: Vec<(u32, Vec<&str>)> = Vec::new();
                for reason in &d.reasons {
                    let line = match reason.kind {
                        ReasonKind::Gate => r.lines.gates,
                        ReasonKind::Approval | ReasonKind::Window | ReasonKind::Order | ReasonKind::Promotion => r.lines.environment,
                        ReasonKind::Input | ReasonKind::Schema | ReasonKind::Reference | ReasonKind::Policy => r.lines.name,
                    }
                    .max(1);
                    match at.iter_mut().find(|(l, _)| *l == line) {
                        Some((_, messages)) => messages.push(&reason.message),
                        None => at.push((line, vec![&reason.message])),
                    }
                }
                for (line, messages) in at {
                    annotations.push(Annotation {
                        path: r.file.clone(),
                        start_line: line,
                        end_line: line,
                        level: Level::Failure,
                        title: Some(format!("tollgate: {} is blocked in {}", r.name, d.environment)),
                        message: messages.join("\n"),
                    });
                }
            }
        }
    }
    if !e.releases.is_empty() {
        let _ = writeln!(summary, "\nApprovals bind to the content digest of each release at this commit: {}.", digests(e));
    }
    let moves = e.releases.iter().flat_map(|r| &r.decisions).count();
    let (conclusion, title) = match (moves, blocked) {
        (0, _) => (Conclusion::Neutral, "promotes nothing".to_owned()),
        (_, 0) => (Conclusion::Success, format!("{} release{} can move", e.releases.len(), plural(e.releases.len()))),
        (_, b) => (Conclusion::Failure, format!("{b} promotion{} blocked", plural(b))),
    };
    run(RELEASE, e, conclusion, title, summary, annotations)
}

/// An environment's approvals for this content: `1 of 2 by bob (missing a member of risk)`,
/// or `–` where none are asked.
fn approvals(d: &tollgate_decision::Decision) -> String {
    let a = &d.inputs.approvals;
    if a.policy.required == 0 {
        return "–".to_owned();
    }
    let by: Vec<&str> = a.counted.iter().map(|c| c.user.as_str()).collect();
    let mut out = format!("{} of {}", by.len(), a.policy.required);
    if !by.is_empty() {
        let _ = write!(out, " by {}", by.join(", "));
    }
    if !a.missing_groups.is_empty() {
        let _ = write!(out, " (missing a member of {})", a.missing_groups.join(", "));
    }
    out
}

fn digests(e: &Evaluation) -> String {
    e.releases.iter().map(|r| format!("`{}` {}…", r.name, short(&r.content_digest))).collect::<Vec<_>>().join(", ")
}

/// The report comment's Markdown (without the marker), from the runs as published.
pub fn comment(e: &Evaluation, runs: &[CheckRun]) -> String {
    let mut out = format!("## tollgate: `{}`\n\n", short(&e.head_sha));
    out.push_str("| check | result |\n|---|---|\n");
    for r in runs {
        let mark = match r.conclusion {
            Conclusion::Success => "✅",
            Conclusion::Failure => "❌",
            Conclusion::Neutral => "➖",
            Conclusion::ActionRequired => "⏳",
        };
        let _ = writeln!(out, "| {} | {mark} {} |", r.name, cell(&r.title));
    }
    for r in runs {
        let _ = write!(out, "\n<details><summary>{}</summary>\n\n{}\n</details>\n", r.name, r.summary);
    }
    out
}

/// The one-line description of a commit status (the fallback when checks cannot be written).
pub fn status_line(r: &CheckRun) -> String {
    r.title.clone()
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
