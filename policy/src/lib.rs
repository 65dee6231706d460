//! The Rego policy engine: the organisation's policies plus tollgate's default library,
//! compiled once per bundle digest and evaluated with `regorus`.
//!
//! **Architecture invariant:** this is the only module that touches `regorus` types. Callers get
//! [`PolicyResult`]s and [`TestOutcome`]s, never `regorus::Value`.
//!
//! Conventions follow Conftest: in package `tollgate.<kind>` (the organisation's) and
//! `tollgate.lib.<kind>` (the default library), and in any package an environment names, the
//! partial-set rules `deny` and `violation` produce errors and `warn` produces warnings. A
//! result is a message string, or an object with `msg` and optionally `id`, `path` (a JSON
//! pointer into the input) and `hint`.
//!
//! Policies cannot reach the network: regorus is built without its `http` and `opa-runtime`
//! features, so `http.send` and `opa.runtime` do not exist and a policy naming them does not
//! compile.
//!
//! Policies cannot take the process down: recursive rules and functions (which regorus would
//! follow until the stack overflows) and over-long dependency chains are refused when a bundle is
//! compiled, and every evaluation runs under a time and a memory budget ([`Limits`]), ending in
//! [`PolicyError::Limit`] instead of a hang or an abort.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use regorus::{Engine, Value as RValue};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod guards;
mod library;
mod limits;
#[cfg(test)]
mod limits_tests;
mod recursion;
#[cfg(test)]
mod tests;

pub use library::DEFAULT_LIBRARY;
pub use limits::{Exceeded, Limits};
pub use recursion::MAX_CHAIN;

use limits::Budget;

/// Errors compiling or evaluating policies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A policy file does not parse or compile.
    #[error("{file}:{line}:{column}: {message}")]
    Compile { file: String, line: u32, column: u32, message: String },
    /// Evaluating a rule failed at run time (a builtin error, a conflict).
    #[error("evaluating `{rule}` failed: {message}")]
    Eval { rule: String, message: String },
    /// Evaluating a rule ran past one of the bundle's [`Limits`] and was stopped.
    #[error("evaluating `{rule}` ({policy}) was stopped: it exceeded {exceeded}")]
    Limit {
        rule: String,
        /// The file that declares the rule's package.
        policy: String,
        exceeded: Exceeded,
    },
}

/// One message produced by a `deny`, `violation` or `warn` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    /// `deny`, `violation` or `warn`.
    pub rule: &'static str,
    /// The package, e.g. `tollgate.lib.model`.
    pub package: String,
    /// The result's `id`, or the package and rule when it has none.
    pub id: String,
    pub message: String,
    /// JSON pointer into the input document.
    pub path: Option<String>,
    pub hint: Option<String>,
}

impl PolicyResult {
    pub fn is_warning(&self) -> bool {
        self.rule == "warn"
    }
}

/// The rule names that produce findings, errors first.
pub const RULES: [&str; 3] = ["deny", "violation", "warn"];

/// A compiled set of policies.
#[derive(Clone)]
pub struct Bundle {
    /// Shared by the bundle's clones; each evaluator gets its own copy.
    engine: Arc<Engine>,
    /// Copies that evaluated before and are free again, reused by the next evaluator: a fresh
    /// copy sizes its per-expression tables on its first evaluation and frees them when dropped,
    /// which for the default library costs more than evaluating a small document.
    spare: Arc<Mutex<Vec<Engine>>>,
    digest: String,
    /// Per package, the result rules it defines (in [`RULES`] order) with their
    /// `data.<package>.<rule>` paths, so absent rules are never evaluated.
    rules: Arc<HashMap<String, Vec<(&'static str, String)>>>,
    packages: Arc<Vec<String>>,
    /// Per package defining more than one of [`RULES`], the generated rule that evaluates them
    /// together (see [`combine`]).
    combined: Arc<HashMap<String, String>>,
    sources: Arc<Vec<(String, String)>>,
    /// The first file declaring each package, to name it in errors.
    files: Arc<HashMap<String, String>>,
    limits: Limits,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").field("digest", &self.digest).field("packages", &self.packages).finish()
    }
}

impl Bundle {
    /// Compiles `sources` (path, Rego text), with the default library first when asked.
    ///
    /// # Errors
    ///
    /// Returns every file that fails to compile, each with its file, line and column.
    pub fn compile(sources: &[(String, String)], default_library: bool) -> Result<Bundle, Vec<PolicyError>> {
        let mut all: Vec<(String, String)> = Vec::new();
        if default_library {
            all.extend(DEFAULT_LIBRARY.iter().map(|(p, s)| ((*p).to_owned(), (*s).to_owned())));
        }
        all.extend(sources.iter().cloned());
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(false);
        guards::register(&mut engine).map_err(|e| vec![PolicyError::Eval { rule: "numbers.range".to_owned(), message: e.to_string() }])?;
        let mut errors = Vec::new();
        let mut packages = Vec::new();
        let mut files = HashMap::new();
        let mut rules: HashMap<String, Vec<(&'static str, String)>> = HashMap::new();
        for (path, text) in &all {
            let forbidden = forbidden_calls(path, text);
            if !forbidden.is_empty() {
                errors.extend(forbidden);
                continue;
            }
            match engine.add_policy(path.clone(), text.clone()) {
                Ok(package) => {
                    let package = package.trim_start_matches("data.").to_owned();
                    if package.starts_with(COMBINED_PACKAGE) {
                        let line = text.lines().position(|l| l.trim_start().starts_with("package ")).map_or(1, |n| n + 1);
                        errors.push(PolicyError::Compile {
                            file: path.clone(),
                            line: u32::try_from(line).unwrap_or(u32::MAX),
                            column: 1,
                            message: format!("package `{package}` is reserved for the rules tollgate generates; rename the package"),
                        });
                        continue;
                    }
                    let defined = rules.entry(package.clone()).or_default();
                    for rule in RULES {
                        if engine.has_declared_rule_rooted_at(path, rule).unwrap_or(false) && !defined.iter().any(|(r, _)| *r == rule) {
                            defined.push((rule, format!("data.{package}.{rule}")));
                        }
                    }
                    // A package's files may each define some of them: keep [`RULES`] order.
                    defined.sort_by_key(|(r, _)| RULES.iter().position(|x| x == r));
                    files.entry(package.clone()).or_insert_with(|| path.clone());
                    packages.push(package);
                }
                Err(err) => errors.push(compile_error(path, &err.to_string())),
            }
        }
        if errors.is_empty() {
            errors.extend(recursion::check(engine.get_modules()));
        }
        packages.sort();
        packages.dedup();
        let mut combined = HashMap::new();
        if errors.is_empty() {
            // Before the probe below, which leaves the engine prepared for the copies made of it.
            match combine(&mut engine, &packages, &rules) {
                Ok(c) => combined = c,
                Err(err) => errors.push(PolicyError::Eval { rule: COMBINED_PACKAGE.to_owned(), message: one_line(&err.to_string()) }),
            }
        }
        if errors.is_empty() {
            // Evaluating once surfaces errors that only show when rules are linked together.
            if let Err(err) = engine.eval_rule("data.__tollgate_probe".to_owned()) {
                let text = err.to_string();
                if !text.contains("not a valid rule path") && !text.contains("__tollgate_probe") {
                    errors.push(compile_error(all.first().map_or("", |(p, _)| p.as_str()), &text));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Bundle {
            engine: Arc::new(engine),
            spare: Arc::default(),
            digest: Bundle::digest_of(sources, default_library),
            rules: Arc::new(rules),
            packages: Arc::new(packages),
            combined: Arc::new(combined),
            sources: Arc::new(all),
            files: Arc::new(files),
            limits: Limits::default(),
        }
        .with_limits(Limits::default()))
    }

    /// The digest a bundle compiled from `sources` (with the default library first when asked)
    /// has ([`Bundle::digest`]), without compiling it: a caller holding a bundle of the same
    /// digest and limits can keep it (its engine copies included).
    pub fn digest_of(sources: &[(String, String)], default_library: bool) -> String {
        let library = DEFAULT_LIBRARY.iter().filter(|_| default_library).map(|(p, s)| (*p, *s));
        let mut hasher = Sha256::new();
        hasher.update(if default_library { b"lib:1" } else { b"lib:0" });
        for (path, text) in library.chain(sources.iter().map(|(p, s)| (p.as_str(), s.as_str()))) {
            hasher.update((path.len() as u64).to_le_bytes());
            hasher.update(path.as_bytes());
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// The bundle with other evaluation limits (every bundle starts with [`Limits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Bundle {
        let check_interval = NonZeroU32::new(32).unwrap_or(NonZeroU32::MIN);
        Arc::make_mut(&mut self.engine)
            .set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig { limit: limits.timeout, check_interval });
        // The spare copies were made with the old limits.
        self.spare = Arc::default();
        self.limits = limits;
        self
    }

    /// What one evaluation may spend.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether `other` is this bundle or a clone of it with the same limits: one compilation,
    /// sharing its engine and the copies kept for reuse.
    pub fn is_clone_of(&self, other: &Bundle) -> bool {
        Arc::ptr_eq(&self.engine, &other.engine) && Arc::ptr_eq(&self.spare, &other.spare)
    }

    /// The error for a failed evaluation of `rule`: a limit, or what regorus said.
    fn eval_error(&self, rule: &str, err: &anyhow::Error) -> PolicyError {
        match limits::exceeded(err, &self.limits) {
            Some(exceeded) => {
                let package = rule.strip_prefix("data.").and_then(|r| r.rsplit_once('.')).map_or("", |(p, _)| p);
                let policy = self.files.get(package).cloned().unwrap_or_else(|| "?".to_owned());
                PolicyError::Limit { rule: rule.to_owned(), policy, exceeded }
            }
            None => PolicyError::Eval { rule: rule.to_owned(), message: one_line(&err.to_string()) },
        }
    }

    /// The SHA-256 of every source file and its path: decisions record it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Packages the bundle defines.
    pub fn packages(&self) -> &[String] {
        &self.packages
    }

    /// Whether `package` defines any of `deny`, `violation`, `warn`.
    pub fn has_rules(&self, package: &str) -> bool {
        self.rules.get(package).is_some_and(|r| !r.is_empty())
    }

    /// An evaluator for one thread: a copy of the compiled engine that evaluated before and is
    /// free again, or a new one (cloning the compiled engine is cheap next to compiling). It goes
    /// back to the bundle when the evaluator is dropped.
    pub fn evaluator(&self) -> Evaluator {
        let spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Evaluator { bundle: self.clone(), engine: Some(spare.unwrap_or_else(|| Engine::clone(&self.engine))) }
    }

    /// When `query` is a result rule of a package whose result rules are evaluated together
    /// ([`combine`]), that evaluation's value of the rule if it is not `direct` (the rule's own
    /// value); `None` when they agree, or when the one pass gives no object (the evaluator then
    /// evaluates rule by rule, as `direct` was). Runs on `engine`, whose input is set.
    fn one_pass_disagrees(&self, engine: &mut Engine, query: &str, direct: &RValue) -> Option<String> {
        let (package, rule) = query.strip_prefix("data.")?.rsplit_once('.')?;
        let path = self.combined.get(package)?;
        let rule = RULES.into_iter().find(|r| *r == rule)?;
        let Ok(RValue::Object(values)) = engine.eval_rule(path.clone()) else { return None };
        let together = values.get(&RValue::from(rule)).unwrap_or(&RValue::Undefined);
        (together != direct).then(|| serde_json::to_value(together).map_or_else(|_| together.to_string(), |v| v.to_string()))
    }

    /// Runs every `test_*` rule of the bundle's sources, like `opa test`.
    pub fn run_tests(&self, filter: Option<&str>) -> Vec<TestOutcome> {
        let _budget = Budget::enter(&self.limits);
        let mut outcomes = Vec::new();
        for (path, text) in self.sources.iter() {
            let Some(package) = package_of(text) else { continue };
            let mut seen = HashSet::new();
            for name in rule_heads(text).into_iter().filter(|n| n.starts_with("test_")) {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let full = format!("data.{package}.{name}");
                if filter.is_some_and(|f| !full.contains(f)) {
                    continue;
                }
                let mut engine = Engine::clone(&self.engine);
                engine.set_input(RValue::new_object());
                let start = Instant::now();
                let result = engine.eval_rule(full.clone());
                let elapsed = start.elapsed();
                let outcome = match result {
                    Ok(RValue::Bool(true)) => TestResult::Pass,
                    Ok(RValue::Undefined | RValue::Bool(false)) => TestResult::Fail,
                    Ok(other) => TestResult::Error(format!("test returned `{other}`, not `true`")),
                    Err(err) => TestResult::Error(self.eval_error(&full, &err).to_string()),
                };
                outcomes.push(TestOutcome { file: path.clone(), name: full, result: outcome, elapsed });
            }
        }
        outcomes
    }
}

/// The result of one `test_*` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    pub file: String,
    /// `data.<package>.<test>`.
    pub name: String,
    pub result: TestResult,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestResult {
    Pass,
    Fail,
    Error(String),
}

/// The package of the generated rules that evaluate a package's result rules together.
const COMBINED_PACKAGE: &str = "__tollgate_results";

/// Adds to `engine`, for each package of `packages` that defines more than one of [`RULES`], a
/// generated rule `data.__tollgate_results.p<N>.results`: an object of the package's result
/// rules (`{"deny": data.<package>.deny, "warn": data.<package>.warn}`). One evaluation of it
/// gives the same values as one evaluation per rule (rules are functions of the input and the
/// data), and the helper rules they share (the containers of a manifest, ...) are evaluated
/// once instead of once per rule: about a fifth less for the default library's Kubernetes
/// policies. The generated modules are not sources: the bundle's digest, its packages and
/// `policy test` do not see them. Returns the rule's path per package.
fn combine(
    engine: &mut Engine,
    packages: &[String],
    rules: &HashMap<String, Vec<(&'static str, String)>>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut combined = HashMap::new();
    for (n, package) in packages.iter().enumerate() {
        let defined = rules.get(package).map_or(&[][..], Vec::as_slice);
        if defined.len() < 2 {
            continue;
        }
        let fields: Vec<String> = defined.iter().map(|(rule, path)| format!("\"{rule}\": {path}")).collect();
        let text = format!("package {COMBINED_PACKAGE}.p{n}\n\nresults := {{{}}}\n", fields.join(", "));
        engine.add_policy(format!("<{COMBINED_PACKAGE}.p{n}>"), text)?;
        combined.insert(package.clone(), format!("data.{COMBINED_PACKAGE}.p{n}.results"));
    }
    Ok(combined)
}

/// Copies of the compiled engine a bundle keeps for reuse; more are dropped.
const SPARE_ENGINES: usize = 32;

/// Evaluates policies for one document at a time; one per thread.
pub struct Evaluator {
    bundle: Bundle,
    /// `None` after an evaluation failed (the next one makes a fresh copy) and in `drop`, which
    /// hands it back to the bundle.
    engine: Option<Engine>,
}

impl Evaluator {
    /// Evaluates `deny`, `violation` and `warn` of each package against `input`.
    ///
    /// # Errors
    ///
    /// Returns [`PolicyError::Eval`] when a rule fails at run time.
    pub fn evaluate(&mut self, input: &PolicyInput, packages: &[String]) -> Result<Vec<PolicyResult>, PolicyError> {
        // The bundle's memory ceiling holds while this evaluation runs.
        let _budget = Budget::enter(&self.bundle.limits);
        let mut results = Vec::new();
        let mut input_set = false;
        let (rules, combined) = (Arc::clone(&self.bundle.rules), Arc::clone(&self.bundle.combined));
        for package in packages {
            let defined = rules.get(package).map_or(&[][..], Vec::as_slice);
            // A result rule undefined for this input (a complete rule whose bodies all failed)
            // leaves the object undefined, and a failure is named by its rule (an evaluation
            // stopped at its time budget can so take twice the budget): both are evaluated again
            // rule by rule below.
            if let Some(path) = combined.get(package)
                && let Ok(RValue::Object(values)) = self.eval(input, &mut input_set, path)
            {
                for (rule, _) in defined {
                    collect(values.get(&RValue::from(*rule)).unwrap_or(&RValue::Undefined), rule, package, &mut results);
                }
                continue;
            }
            for (rule, path) in defined {
                let value = self.eval(input, &mut input_set, path)?;
                collect(&value, rule, package, &mut results);
            }
        }
        Ok(results)
    }

    /// Evaluates the rule at `path` with `input` (set on the engine once, `input_set`).
    ///
    /// A panic in the engine (a bug there, reached by some policy) ends this evaluation, not the
    /// process. After a panic or an error the engine is replaced, as its state is unknown (an
    /// evaluation cut short may leave values behind).
    fn eval(&mut self, input: &PolicyInput, input_set: &mut bool, path: &str) -> Result<RValue, PolicyError> {
        let engine = self.engine.get_or_insert_with(|| Engine::clone(&self.bundle.engine));
        if !*input_set {
            engine.set_input(input.0.clone());
            *input_set = true;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.eval_rule(path.to_owned())));
        if !matches!(outcome, Ok(Ok(_))) {
            self.engine = None;
            *input_set = false;
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.bundle.eval_error(path, &err)),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(PolicyError::Eval { rule: path.to_owned(), message: format!("the policy engine failed: {message}") })
            }
        }
    }
}

impl Drop for Evaluator {
    /// Hands the engine back to the bundle, without the last input (a review's object, a
    /// document), for the next evaluator.
    fn drop(&mut self) {
        let Some(mut engine) = self.engine.take() else { return };
        engine.set_input(RValue::Undefined);
        let mut spare = self.bundle.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_ENGINES {
            spare.push(engine);
        }
    }
}

/// A policy input, converted once into the engine's value type.
#[derive(Debug, Clone)]
pub struct PolicyInput(RValue);

impl PolicyInput {
    /// The document with `context` added at the top level.
    pub fn new(document: &Value, context: &Value) -> PolicyInput {
        PolicyInput(with_context(to_rego(document), to_rego(context)))
    }

    /// An input from already converted parts: the document and a context object whose
    /// members were converted before (shared documents are converted once, cloned cheaply).
    pub fn from_parts(document: ConvertedValue, context: Vec<(&str, ConvertedValue)>) -> PolicyInput {
        let ctx: BTreeMap<RValue, RValue> = context.into_iter().map(|(k, v)| (RValue::from(k), v.0)).collect();
        // Taken by value: a document converted for this input alone is extended in place.
        PolicyInput(with_context(document.0, RValue::from(ctx)))
    }
}

/// Adds `context` to an object value (a non-object document becomes `{context}`).
fn with_context(document: RValue, context: RValue) -> RValue {
    let mut doc = match document {
        RValue::Object(_) => document,
        _ => RValue::new_object(),
    };
    if let Ok(map) = doc.as_object_mut() {
        map.extend([(RValue::from("context"), context)]);
    }
    doc
}

/// A JSON value converted to the engine's representation (cheap to clone).
#[derive(Debug, Clone)]
pub struct ConvertedValue(RValue);

impl ConvertedValue {
    pub fn new(value: &Value) -> ConvertedValue {
        ConvertedValue(to_rego(value))
    }

    pub fn string(s: &str) -> ConvertedValue {
        ConvertedValue(RValue::from(s))
    }

    pub fn list(items: Vec<ConvertedValue>) -> ConvertedValue {
        ConvertedValue(RValue::from(items.into_iter().map(|c| c.0).collect::<Vec<_>>()))
    }

    pub fn object(entries: Vec<(String, ConvertedValue)>) -> ConvertedValue {
        ConvertedValue(RValue::from(entries.into_iter().map(|(k, v)| (RValue::from(k), v.0)).collect::<BTreeMap<_, _>>()))
    }
}

/// Converts JSON into a regorus value directly, without a serde round trip.
fn to_rego(value: &Value) -> RValue {
    match value {
        Value::Null => RValue::Null,
        Value::Bool(b) => RValue::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                RValue::from(i)
            } else if let Some(u) = n.as_u64() {
                RValue::from(u)
            } else {
                RValue::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => RValue::from(s.as_str()),
        Value::Array(items) => RValue::from(items.iter().map(to_rego).collect::<Vec<_>>()),
        Value::Object(map) => RValue::from(map.iter().map(|(k, v)| (RValue::from(k.as_str()), to_rego(v))).collect::<BTreeMap<_, _>>()),
    }
}

fn collect(value: &RValue, rule: &'static str, package: &str, out: &mut Vec<PolicyResult>) {
    let items: Vec<&RValue> = match value {
        RValue::Set(set) => set.iter().collect(),
        RValue::Array(items) => items.iter().collect(),
        RValue::Undefined | RValue::Null => return,
        other => vec![other],
    };
    for item in items {
        let default_id = format!("{package}.{rule}");
        let result = match item {
            RValue::String(s) => {
                PolicyResult { rule, package: package.to_owned(), id: default_id, message: s.to_string(), path: None, hint: None }
            }
            RValue::Object(obj) => {
                let text = |k: &str| obj.get(&RValue::from(k)).and_then(|v| v.as_string().ok()).map(|s| s.to_string());
                let message = text("msg").or_else(|| text("message")).unwrap_or_else(|| item.to_string());
                PolicyResult {
                    rule,
                    package: package.to_owned(),
                    id: text("id").unwrap_or(default_id),
                    message,
                    path: text("path").filter(|p| p.is_empty() || p.starts_with('/')),
                    hint: text("hint"),
                }
            }
            RValue::Bool(false) => continue,
            other => PolicyResult { rule, package: package.to_owned(), id: default_id, message: other.to_string(), path: None, hint: None },
        };
        out.push(result);
    }
}

/// Pulls file, line and column out of a regorus error message, which looks like
/// `--> path:line:col`, the source line with a caret, then `error: message`.
fn compile_error(path: &str, text: &str) -> PolicyError {
    let (mut line, mut column) = (0, 0);
    if let Some(i) = text.find(&format!("{path}:")) {
        let rest = &text[i + path.len() + 1..];
        let digits = |s: &str| -> (u32, usize) {
            let n: String = s.chars().take_while(char::is_ascii_digit).collect();
            (n.parse().unwrap_or(0), n.len())
        };
        let (l, used) = digits(rest);
        line = l;
        if let Some(after) = rest[used..].strip_prefix(':') {
            column = digits(after).0;
        }
    }
    let message =
        error_message(text).map_or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("").to_owned(), str::to_owned);
    PolicyError::Compile { file: path.to_owned(), line, column, message }
}

/// The `error: message` line of a regorus error, without its prefix.
fn error_message(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find_map(|l| l.strip_prefix("error:")).map(str::trim)
}

/// A regorus error on one line: `file:line:column: message` from its `--> file:line:column`,
/// source excerpt and `error: message` lines.
fn one_line(text: &str) -> String {
    let location = text.lines().find_map(|l| l.trim().strip_prefix("--> ")).map(str::trim);
    match (location, error_message(text)) {
        (Some(location), Some(message)) => format!("{location}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => text.trim().lines().map(str::trim).collect::<Vec<_>>().join(" "),
    }
}

/// Builtins that reach the network or the host. regorus is built without them, so they would
/// only fail when a rule reaches them at run time; naming them is refused up front instead.
const FORBIDDEN_BUILTINS: [&str; 3] = ["http.send", "net.lookup_ip_addr", "opa.runtime"];

/// Finds calls of [`FORBIDDEN_BUILTINS`] outside comments and strings.
fn forbidden_calls(path: &str, text: &str) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        // Blank out string contents and drop the comment, keeping columns.
        let mut code = String::with_capacity(raw.len());
        let mut in_string: Option<char> = None;
        let mut escaped = false;
        for c in raw.chars() {
            match in_string {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && q == '"' {
                        escaped = true;
                    } else if c == q {
                        in_string = None;
                    }
                    code.push(' ');
                }
                None if c == '#' => break,
                None => {
                    if c == '"' || c == '`' {
                        in_string = Some(c);
                    }
                    code.push(c);
                }
            }
        }
        for name in FORBIDDEN_BUILTINS {
            let mut from = 0;
            while let Some(i) = code[from..].find(name).map(|i| i + from) {
                let before = code[..i].chars().next_back();
                let after = code[i + name.len()..].trim_start().chars().next();
                if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && after == Some('(') {
                    errors.push(PolicyError::Compile {
                        file: path.to_owned(),
                        line: u32::try_from(n + 1).unwrap_or(u32::MAX),
                        column: u32::try_from(code[..i].chars().count() + 1).unwrap_or(u32::MAX),
                        message: format!("builtin `{name}` reaches the network or the host; tollgate policies cannot use it"),
                    });
                }
                from = i + name.len();
            }
        }
    }
    errors
}

/// The `package` line of a Rego file.
fn package_of(text: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|l| l.strip_prefix("package ")).map(|p| p.trim().to_owned())
}

/// Names of the rules whose head starts a line (`name if`, `name contains`, `name :=`, ...).
fn rule_heads(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t', '#', '}']) {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.is_empty() || matches!(name.as_str(), "package" | "import" | "default") {
            if let Some(rest) = line.strip_prefix("default ") {
                let n: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !n.is_empty() {
                    names.push(n);
                }
            }
            continue;
        }
        let rest = line[name.len()..].trim_start();
        if rest.is_empty() || rest.starts_with(['{', '[', '(', '=', ':']) || rest.starts_with("if") || rest.starts_with("contains") {
            names.push(name);
        }
    }
    names
}

/// Errors reading a YAML case file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    /// The file is not valid YAML.
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    /// The file is not a list of cases with `note`, `query`, `input` and `want_result`.
    #[error("{file}: case {index}: {message}")]
    Shape { file: String, index: usize, message: String },
}

/// Runs YAML policy cases: a list of `{note, query, input, want_result}`. A result that is a set
/// or list is compared without regard to order; `want_result: null` expects an undefined or
/// empty result. A case whose query is a result rule of a package evaluated in one pass (as
/// `check` and admission evaluate it) also fails where that pass gives the rule another value.
///
/// # Errors
///
/// Returns [`CaseError`] when the file cannot be read as cases.
pub fn run_cases(bundle: &Bundle, file: &str, text: &str) -> Result<Vec<TestOutcome>, CaseError> {
    let docs = tollgate_spec::yaml::parse_documents(text.as_bytes(), &tollgate_spec::yaml::Limits::default()).map_err(|e| {
        CaseError::Yaml { file: file.to_owned(), message: format!("{}: {e}", e.pos().map(|p| p.to_string()).unwrap_or_default()) }
    })?;
    let _budget = Budget::enter(&bundle.limits);
    let mut outcomes = Vec::new();
    for doc in docs {
        let cases = match doc.value {
            Value::Array(items) => items,
            Value::Object(ref m) if m.get("cases").is_some_and(Value::is_array) => {
                m.get("cases").and_then(Value::as_array).cloned().unwrap_or_default()
            }
            _ => return Err(CaseError::Shape { file: file.to_owned(), index: 0, message: "expected a list of cases".into() }),
        };
        for (index, case) in cases.iter().enumerate() {
            let shape = |message: &str| CaseError::Shape { file: file.to_owned(), index, message: message.to_owned() };
            let note = case.get("note").and_then(Value::as_str).ok_or_else(|| shape("missing `note`"))?;
            let query = case.get("query").and_then(Value::as_str).ok_or_else(|| shape("missing `query`"))?;
            let input = case.get("input").cloned().unwrap_or(Value::Null);
            let want = case.get("want_result").cloned().unwrap_or(Value::Null);
            let mut engine = Engine::clone(&bundle.engine);
            engine.set_input(to_rego(&input));
            let start = Instant::now();
            let got = engine.eval_rule(query.to_owned());
            let elapsed = start.elapsed();
            let result = match got {
                Ok(value) => {
                    let json = serde_json::to_value(&value).unwrap_or(Value::Null);
                    if !same_result(&json, &want) {
                        TestResult::Error(format!("want {want}, got {json}"))
                    } else if let Some(other) = bundle.one_pass_disagrees(&mut engine, query, &value) {
                        TestResult::Error(format!("{query} is {json}, but {other} in the one pass that `check` and admission evaluate"))
                    } else {
                        TestResult::Pass
                    }
                }
                Err(e) => TestResult::Error(bundle.eval_error(query, &e).to_string()),
            };
            outcomes.push(TestOutcome { file: file.to_owned(), name: format!("{query} ({note})"), result, elapsed });
        }
    }
    Ok(outcomes)
}

fn same_result(got: &Value, want: &Value) -> bool {
    let empty = |v: &Value| v.is_null() || v.as_str() == Some("<undefined>") || v.as_array().is_some_and(Vec::is_empty);
    if empty(got) && empty(want) {
        return true;
    }
    match (got, want) {
        (Value::Array(a), Value::Array(b)) => {
            let mut a: Vec<String> = a.iter().map(Value::to_string).collect();
            let mut b: Vec<String> = b.iter().map(Value::to_string).collect();
            a.sort();
            b.sort();
            a == b
        }
        _ => got == want,
    }
}
