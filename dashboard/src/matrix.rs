//! The release × environment matrix: one row per release, one column per environment, each
//! cell the decision's state and its first reason. At 18,000 decisions a page holds
//! [`PAGE_SIZE`] releases, filtered by name and state, so it stays small (see docs/dashboard.md).

use std::collections::BTreeMap;

use serde::Serialize;
use tollgate_controller::service::SharedStatus;

use crate::{cut, decision_href, enc, state_class};

/// Releases per page.
pub const PAGE_SIZE: usize = 100;

/// How long a cell's reason may be before it is cut (the decision page has it whole).
const WHY_CHARS: usize = 90;

/// What the matrix is asked for (`?q=…&state=…&page=…`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Releases whose name contains this (case-insensitive).
    pub q: String,
    /// Releases with at least one decision in this state.
    pub state: String,
    /// The page, from 1.
    pub page: usize,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The state's name.
    pub state: &'static str,
    /// The cell's CSS class.
    pub class: String,
    /// The first reason, cut.
    pub why: String,
    /// The decision's page.
    pub href: String,
}

/// One release's row: a cell per environment (none where the environment is not on its path).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The release.
    pub release: String,
    /// One per column.
    pub cells: Vec<Option<Cell>>,
}

/// The matrix page.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The commit read.
    pub commit: String,
    /// When the decisions are for.
    pub at: String,
    /// The columns.
    pub environments: Vec<String>,
    /// This page's rows.
    pub rows: Vec<Row>,
    /// How many decisions are in each state, over every release (not only this page).
    pub counts: Vec<(String, usize)>,
    /// Releases matching the query, over all pages.
    pub matching: usize,
    /// Releases in all.
    pub releases: usize,
    /// This page and the number of pages.
    pub page: usize,
    pub pages: usize,
    /// Links to the previous and next pages, with the query.
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The query as asked, for the form.
    pub q: String,
    pub state: String,
    /// The states one may filter by.
    pub states: Vec<&'static str>,
    /// Promotions that were decided and could not be carried out.
    pub failures: Vec<String>,
}

const STATES: [&str; 8] = ["Pending", "Blocked", "AwaitingApproval", "AwaitingWindow", "Promoting", "Promoted", "Superseded", "RolledBack"];

/// The matrix of `report` as `query` asks.
pub fn build(report: &SharedStatus, query: &Query) -> Matrix {
    let mut environments: Vec<String> = Vec::new();
    let mut releases: Vec<&str> = Vec::new();
    let mut by_release: BTreeMap<&str, Vec<&tollgate_decision::Decision>> = BTreeMap::new();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for d in report.decisions.iter() {
        if !environments.contains(&d.environment) {
            environments.push(d.environment.clone());
        }
        let entry = by_release.entry(d.release.as_str()).or_default();
        if entry.is_empty() {
            releases.push(d.release.as_str());
        }
        entry.push(d);
        *counts.entry(d.state.as_str()).or_default() += 1;
    }
    let needle = query.q.trim().to_lowercase();
    let state = STATES.iter().find(|s| s.eq_ignore_ascii_case(query.state.trim())).copied();
    let matching: Vec<&str> = releases
        .iter()
        .copied()
        .filter(|r| needle.is_empty() || r.to_lowercase().contains(&needle))
        .filter(|r| state.is_none_or(|s| by_release[r].iter().any(|d| d.state.as_str() == s)))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.clamp(1, pages);
    let rows = matching
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|r| Row {
            release: (*r).to_owned(),
            cells: environments
                .iter()
                .map(|env| {
                    by_release[r].iter().find(|d| &d.environment == env).map(|d| Cell {
                        state: d.state.as_str(),
                        class: state_class(d.state.as_str()),
                        why: cut(d.reasons.first().map_or("", |r| r.message.as_str()), WHY_CHARS),
                        href: decision_href(&d.release, &d.environment),
                    })
                })
                .collect(),
        })
        .collect();
    let link = |p: usize| {
        let mut href = format!("/?page={p}");
        if !needle.is_empty() {
            href.push_str(&format!("&q={}", enc(query.q.trim())));
        }
        if let Some(s) = state {
            href.push_str(&format!("&state={s}"));
        }
        href
    };
    Matrix {
        commit: report.commit.clone(),
        at: report.at.to_string(),
        environments,
        rows,
        counts: STATES.iter().filter_map(|s| counts.get(s).map(|n| ((*s).to_owned(), *n))).collect(),
        matching: matching.len(),
        releases: releases.len(),
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        q: query.q.trim().to_owned(),
        state: state.unwrap_or_default().to_owned(),
        states: STATES.to_vec(),
        failures: report
            .failures
            .iter()
            .map(|f| format!("{} → {}: {} (attempt {})", f.release, f.environment, f.reason, f.attempts))
            .collect(),
    }
}
