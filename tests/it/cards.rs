//! `tollgate model-card`, the card recorded at each promotion, and the export's technical file,
//! on a committed copy of `examples/` with a real SQLite store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{Scratch, code, stderr, stdout};

/// A Tuesday, 11:00 in Berlin: staging and prod are open.
const TUESDAY: &str = "2026-12-01T10:00:00Z";

/// A committed copy of `examples/`, a store and a gate cache beside it.
struct Setup {
    repo: Scratch,
    state: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let repo = Scratch::examples();
        repo.git_init();
        Setup { repo, state: tempfile::tempdir().expect("tmp") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.state.path().join(name)
    }

    /// Runs `tollgate ARGS` on this repo and store, with `envs` (and `PATH` as the test's
    /// unless `envs` sets it).
    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let db = format!("sqlite://{}", self.path("tollgate.db").display());
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .current_dir(self.state.path())
            .env("TOLLGATE_REPO", self.repo.path())
            .env("TOLLGATE_DB", db)
            .env("TOLLGATE_GATE_CACHE", self.path("gate-cache"))
            .env_remove("TOLLGATE_CARD_TEMPLATES")
            .env_remove("TOLLGATE_PDF_CONVERTER")
            .envs(envs.iter().copied())
            .output()
            .expect("run tollgate")
    }

    fn card(&self, release: &str, extra: &[&str]) -> Output {
        let mut args = vec!["model-card", release, "--at", TUESDAY];
        args.extend_from_slice(extra);
        self.run(&args, &[])
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(out), stderr(out)))
}

#[test]
fn a_model_card_reports_the_model_its_data_its_gates_and_its_decision() {
    let s = Setup::new();
    let out = s.card("churn-v3", &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let card = json(&out);
    assert_eq!(card["format"], "tollgate-model-card/1");
    assert_eq!((card["release"].as_str(), card["environment"].as_str()), (Some("churn-v3"), Some("staging")));
    assert_eq!(card["generatedAt"], TUESDAY);
    assert_eq!(card["model"]["name"], "churn");
    assert_eq!(card["model"]["version"], "3");
    assert_eq!(card["model"]["owner"], "ml-growth");
    assert_eq!(card["model"]["artifactSha256"], "842058092dfacd77925a5ce37b1f0cd6b116a7e47dc1f3a33244e8c6d68a3def");
    assert_eq!(card["model"]["inputs"][2], "contract (category)");
    assert!(card["uses"]["intendedUse"].as_str().expect("intended use").starts_with("Choose which subscribers the retention team calls"));
    assert_eq!(card["uses"]["humanOversight"], Value::Null);
    assert_eq!(card["missing"], serde_json::json!(["card.humanOversight"]));
    // The evaluation dataset and its lineage.
    let d = &card["datasets"][0];
    assert_eq!((d["role"].as_str(), d["name"].as_str(), d["declared"].as_bool()), (Some("evaluation"), Some("churn-eval"), Some(true)));
    assert_eq!(d["piiColumns"], serde_json::json!(["customer_id", "senior_citizen"]));
    assert_eq!(d["sensitiveFeatures"], serde_json::json!(["senior_citizen"]));
    assert_eq!(d["transformations"][1], "label joined from cancellations up to 2026-07-01");
    // The gates: every threshold with its verdict, and the per-group table of the fairness one.
    let e = &card["evaluation"];
    assert_eq!(e["passed"], true, "{e:#}");
    let metrics: Vec<&str> = e["thresholds"].as_array().expect("thresholds").iter().filter_map(|t| t["metric"].as_str()).collect();
    assert_eq!(metrics, ["roc_auc", "precision", "demographic_parity_ratio"]);
    assert_eq!(e["thresholds"][0]["bound"], "≥ 0.7");
    assert_eq!(e["thresholds"][2]["bound"], "≥ 0.8 by senior_citizen");
    assert!(e["thresholds"].as_array().expect("thresholds").iter().all(|t| t["verdict"] == "pass"), "{e:#}");
    assert_eq!(e["groups"][0]["features"], serde_json::json!(["senior_citizen"]));
    let groups: Vec<&str> = e["groups"][0]["rows"].as_array().expect("rows").iter().filter_map(|r| r["group"].as_str()).collect();
    assert_eq!(groups, ["false", "true"]);
    assert_eq!(e["scoredBy"], "column churn_v3_score");
    // Scored from a column: no model ran.
    assert_eq!(card["runtime"]["device"], "none");
    assert_eq!(card["decision"]["state"], "Pending");
    assert_eq!(card["oversight"]["requiredApprovals"], 1);
    assert_eq!(card["approvals"], serde_json::json!([]));
    assert_eq!(card["promotions"], serde_json::json!([]));

    // Markdown, the default: the template's sections, in order.
    let md = s.card("churn-v3", &[]);
    assert_eq!(code(&md), 0, "{}", stderr(&md));
    let text = stdout(&md);
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## Model details",
            "## Uses",
            "## Bias, risks and limitations",
            "## Training data",
            "## Evaluation data",
            "## Evaluation results",
            "## Technical specifications",
            "## Decision and approvals",
            "## Promotion history",
            "## Model card contact",
            "## Not provided",
        ]
    );
    assert!(text.starts_with("# Model card: churn 3 (churn-v3 → staging)\n"), "{text}");
    assert!(text.contains("| fairness | demographic_parity_ratio | ≥ 0.8 by senior_citizen |"), "{text}");

    // HTML, written to a file whole.
    let file = s.path("card.html");
    let html = s.card("churn-v3", &["--format", "html", "--output", file.to_str().expect("utf-8")]);
    assert_eq!(code(&html), 0, "{}", stderr(&html));
    let page = std::fs::read_to_string(&file).expect("card.html");
    assert!(page.starts_with("<!doctype html>") && page.contains("<h2>Evaluation results</h2>"), "{page}");
    assert!(!page.contains("https://") && !page.contains("<script"), "self-contained");
}

#[test]
fn an_organisations_templates_render_the_same_card() {
    let s = Setup::new();
    let dir = s.path("our-cards");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("card.md"), "{{ model.name }} v{{ model.version }}: {{ uses.outOfScopeUse }}\n").expect("write");
    let out = s.card("churn-v3", &["--templates", dir.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "churn v3: Pricing, credit limits, or any decision to refuse or end a service.\n");
    // A field the card does not have is an error naming the template and line.
    std::fs::write(dir.join("card.md"), "{{ model.name }}\n{{ colour }}\n").expect("write");
    let out = s.card("churn-v3", &["--templates", dir.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).starts_with("error: template `card.md`, line 2: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: the data a template may use is documented"), "{}", stderr(&out));
}

#[test]
fn model_card_refuses_bad_input_with_exit_2() {
    let s = Setup::new();
    let out = s.card("nope", &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: no release named `nope` in the config repo\n"), "{}", stderr(&out));
    let out = s.card("churn-v3", &["--env", "nowhere"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).starts_with("error: `nowhere` is not on the promotion path of `churn-v3`"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
    let out = s.card("churn-v3", &["--format", "pdf"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("invalid value 'pdf' for '--format <FORMAT>'"), "{}", stderr(&out));
    let missing = s.path("no-such-dir");
    let out = s.card("churn-v3", &["--templates", missing.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        format!(
            "error: template directory `{}` does not exist\nhint: pass a copy of tollgate's `model-cards/templates/` folder\n",
            missing.display()
        )
    );
    assert!(!s.path("card.md").exists());
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).expect("read").lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

#[test]
fn each_promotion_records_its_card_and_the_export_carries_it_with_a_technical_file() {
    let s = Setup::new();
    let r = s.run(&["reconcile", "--once", "--at", TUESDAY, "--act"], &[]);
    assert!(stdout(&r).contains("promoted income-v4 to dev"), "{}{}", stdout(&r), stderr(&r));
    let key = s.path("audit.key");
    let keygen = s.run(&["audit", "keygen", "--name", "tollgate-test", "--out", key.to_str().expect("utf-8")], &[]);
    assert_eq!(code(&keygen), 0, "{}", stderr(&keygen));
    let vkey = stdout(&keygen).trim().to_owned();

    // Without a converter: the HTML only, and the export says so.
    let bundle = s.path("bundle");
    let empty = s.path("empty-path");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let export = |out: &Path, extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec![
            "audit",
            "export",
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        args.extend(["--key-file", key.to_str().expect("utf-8")]);
        s.run(&args, envs)
    };
    let e = export(&bundle, &["--technical-file"], &[("PATH", empty.to_str().expect("utf-8"))]);
    assert_eq!(code(&e), 0, "{}", stderr(&e));
    assert_eq!(
        stdout(&e).lines().nth(1),
        Some(
            "no PDF converter found (looked for chromium, chromium-browser, google-chrome, google-chrome-stable on PATH; \
             --pdf-converter names one); wrote technical-file.html only"
        )
    );
    assert!(!bundle.join("technical-file.pdf").exists());

    // Each promotion's card is in the bundle, recorded with it.
    let promotions = lines(&bundle.join("promotions.jsonl"));
    let cards = lines(&bundle.join("model_cards.jsonl"));
    assert!(!promotions.is_empty());
    assert_eq!(cards.len(), promotions.len());
    for (p, c) in promotions.iter().zip(&cards) {
        assert_eq!(c["audit_seq"].as_u64(), p["audit_seq"].as_u64().map(|s| s + 1), "the card's event follows its promotion's");
        assert_eq!(c["doc"]["release"], p["doc"]["release"]);
        assert_eq!(c["doc"]["environment"], p["doc"]["environment"]);
        assert_eq!(c["doc"]["format"], "tollgate-model-card/1");
        assert_eq!(c["doc"]["decision"]["state"], "Promoted");
        let history = c["doc"]["promotions"].as_array().expect("history");
        assert_eq!(history.last().map(|h| &h["commit"]), Some(&p["doc"]["commit"]));
    }
    let income = cards.iter().find(|c| c["doc"]["release"] == "income-v4").expect("income-v4's card");
    assert_eq!(income["subject"], format!("release/income-v4@{}", income["doc"]["environment"].as_str().expect("env")));

    // The technical file: Annex IV headings, items traced to records, the checklist.
    let html = std::fs::read_to_string(bundle.join("technical-file.html")).expect("technical file");
    for heading in [
        "<h2>Checklist: what the config repo does not yet provide</h2>",
        "<h2>AI system: income</h2>",
        "<h3>1. General description of the AI system</h3>",
        "<h3>2. Elements of the AI system and its development</h3>",
        "<h2>Record-keeping (Art. 12, 18, 19)</h2>",
    ] {
        assert!(html.contains(heading), "{heading}");
    }
    let seq = income["audit_seq"].as_u64().expect("seq");
    let line = cards.iter().position(|c| c == income).expect("line") + 1;
    assert!(html.contains(&format!("<code>model_cards.jsonl:{line}</code> (event {seq})")), "items are traced to records");
    assert!(
        html.contains(
            "<td>income</td><td>2(e)</td><td>Human oversight measures (Art. 14)</td><td>add `spec.card.humanOversight` to the Model</td>"
        ),
        "the checklist names what is missing"
    );
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).expect("manifest")).expect("json");
    assert!(manifest["files"]["technical-file.html"]["sha256"].is_string());
    let v = s.run(&["audit", "verify-bundle", bundle.to_str().expect("utf-8"), "--trusted-key", &vkey], &[]);
    assert_eq!(code(&v), 0, "{}{}", stdout(&v), stderr(&v));

    // `none` turns the PDF off, and says so.
    let off = s.path("bundle-off");
    let e = export(&off, &["--technical-file", "--pdf-converter", "none"], &[]);
    assert_eq!(stdout(&e).lines().nth(1), Some("PDF conversion is off (--pdf-converter none); wrote technical-file.html only"));

    // With headless Chromium (scripts/test installs it): the PDF too, in the manifest.
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).is_file()) else {
        panic!("the PDF test needs Debian's chromium (scripts/test installs it)");
    };
    let with_pdf = s.path("bundle-pdf");
    let e = export(&with_pdf, &["--technical-file", "--pdf-converter", chromium], &[]);
    assert_eq!(code(&e), 0, "{}", stderr(&e));
    assert_eq!(stdout(&e).lines().nth(1), Some("wrote the technical file: technical-file.html, technical-file.pdf"));
    let pdf = std::fs::read(with_pdf.join("technical-file.pdf")).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(with_pdf.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["files"]["technical-file.pdf"]["bytes"].as_u64(), Some(pdf.len() as u64));
    let v = s.run(&["audit", "verify-bundle", with_pdf.to_str().expect("utf-8"), "--trusted-key", &vkey], &[]);
    assert_eq!(code(&v), 0, "{}{}", stdout(&v), stderr(&v));
    // The independent verifier, written from docs/audit/ alone, accepts the bundle with its
    // cards and technical file too.
    let py = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit/verify_bundle.py"))
        .arg(&with_pdf)
        .args(["--trusted-key", &vkey])
        .output()
        .expect("python3");
    assert_eq!(py.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
}
