//! An incremental prepare: the pass at a new commit from the pass at an earlier one.

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use super::checkout::GateFiles;
use super::plan::{
    At, GitPromotion, Prepared, REPO_WIDE_RULES, ReleasePlan, branch_of, bundle_for, fatal_of, git_promotions, release_plan,
};
use super::{Options, ReconcileError};
use crate::promote;
use tollgate_check::CheckOptions;
use tollgate_spec::refs::Index;
use tollgate_spec::repo::Source;
use tollgate_spec::{Document, Kind};

/// Prepares the pass at `opts.rev` from the pass prepared at an earlier commit, re-reading only
/// what changed: the release plans a change can affect (the scope of `check --base`, which
/// knows every other document by summary) are made again; every other plan, whose inputs are
/// all unchanged files, is kept. `None` when that does not apply (a change to `tollgate.yaml`,
/// a policy, or a file that is not a document, such as data or an artifact the gates read;
/// a single-release pass), and the caller prepares from scratch.
///
/// # Errors
///
/// As [`prepare`].
pub fn prepare_incremental(opts: &Options, last: &Prepared) -> Result<Option<Prepared>, ReconcileError> {
    if opts.release.is_some() {
        return Ok(None);
    }
    let (repo, changes) = tollgate_check::load(&opts.repo, Some(&opts.rev), Some(&last.commit), opts.jobs)?;
    let Some(changes) = changes.filter(|_| !repo.others.is_empty()) else { return Ok(None) };
    // Gates read data and artifacts by path: a change to any file that is not a document may
    // change a result, so it prepares from scratch.
    let non_document = changes.changed.iter().any(|p| !repo.files.contains_key(p))
        || changes.deleted.iter().any(|p| ![".yaml", ".yml", ".json"].iter().any(|e| p.as_str().ends_with(e)));
    if non_document {
        return Ok(None);
    }
    let source = Source::commit(&opts.repo, &opts.rev)?;
    let Source::Commit { repo: git, commit, prefix } = &source else { unreachable!("a commit source") };
    let (bundle, compile_findings) = bundle_for(&repo, last.bundle.as_ref());
    let author =
        tollgate_spec::repo::commit_author(&opts.repo, &commit.to_string()).map(|(name, email)| tollgate_check::Author { name, email });
    let touched: HashSet<String> = changes.changed.iter().chain(&changes.deleted).map(ToString::to_string).collect();
    let index = Index::new(&repo);
    let scope = tollgate_check::scope(&repo, &index, Some(&changes));
    let in_scope: HashSet<String> = scope.iter().map(|d| d.id()).collect();
    let loaded: HashSet<String> = repo.documents.iter().map(Document::id).collect();
    let report = tollgate_check::check(&repo, bundle.as_ref(), &CheckOptions { changes: Some(changes.clone()), jobs: opts.jobs, author });

    // The findings: the last pass's, with what the change affects replaced by the scoped check's.
    let affects = |f: &tollgate_spec::diag::Finding| {
        touched.contains(&f.file)
            || f.document.as_ref().is_some_and(|d| in_scope.contains(d))
            || (REPO_WIDE_RULES.contains(&f.rule.as_str()) && f.document.as_ref().is_none_or(|d| loaded.contains(d)))
    };
    let mut findings: Vec<tollgate_spec::diag::Finding> = last.findings.iter().filter(|f| !affects(f)).cloned().collect();
    findings.extend(report.findings.iter().filter(|f| affects(f)).cloned());
    tollgate_spec::diag::sort(&mut findings);
    findings.dedup();

    let affected: Vec<&Document> = scope.iter().copied().filter(|d| d.kind == Kind::Release).collect();
    let mut gone: HashSet<&str> = affected.iter().map(|d| d.name.as_str()).collect();
    gone.extend(changes.deleted_documents.iter().filter(|(k, _)| *k == Kind::Release).map(|(_, n)| n.as_str()));
    let mut releases: Vec<ReleasePlan> = last.releases.iter().filter(|r| !gone.contains(r.name.as_str())).cloned().collect();
    let files = GateFiles::of(git, *commit, prefix);
    let at = At { git, commit: *commit, prefix, files: &files };
    for doc in affected {
        releases.push(release_plan(&repo, &index, &findings, doc, &at, opts));
    }
    releases.sort_by(|a, b| b.changed_at.cmp(&a.changed_at).then_with(|| b.name.cmp(&a.name)));
    let mut by_model: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        by_model.entry(r.model.clone()).or_default().push(i);
    }

    let mut promotions: HashMap<(String, String), GitPromotion> = last
        .promotions
        .iter()
        .filter(|((env, model), _)| !touched.contains(&promote::deploy_path(env, model)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    promotions.extend(git_promotions(&repo));
    let fatal = fatal_of(findings.iter().chain(&compile_findings));

    let mut prepared = Prepared {
        by_model,
        commit: commit.to_string(),
        branch: branch_of(git, &opts.rev),
        policy_digest: last.policy_digest.clone(),
        fatal,
        findings,
        releases,
        directory: last.directory.clone(),
        github: last.github.clone(),
        admission: last
            .admission
            .updated(repo.documents.iter().filter(|d| touched.contains(d.file.path.as_str())), &changes.deleted_documents),
        promotions,
        git_dir: git.path().to_owned(),
        prefix: prefix.clone(),
        now: opts.now,
        bundle,
        preparation: super::plan::next_preparation(),
    };
    prepared.set_clock(opts.now);
    Ok(Some(prepared))
}
