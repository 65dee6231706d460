//! `tollgate check` on the examples and on repos broken in every way that matters.

use serde_json::Value;

use crate::support::{Scratch, check_json, code, examples, findings, stderr, stdout, tollgate};

#[test]
fn examples_pass_every_check() {
    let (code, report) = check_json(&examples(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"], serde_json::json!({"fatal": 0, "errors": 0, "warnings": 0}));
    assert!(report["documents"].as_u64().unwrap() >= 15, "{}", report["documents"]);
    assert_eq!(report["policy_digest"].as_str().unwrap().len(), 64);
}

#[test]
fn text_output_groups_findings_by_file_with_positions_and_hints() {
    let repo = Scratch::examples();
    repo.edit("models/income.yaml", "intendedUse:", "intendedUze:");
    repo.edit("releases/income-v1.yaml", "version: \"1\"", "version: \"9\"");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    let expected = "models/income.yaml\n  32:3  error   model-card-intended-use  model `income` has no intended use in its model card\n";
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("33:5  error   schema                   `spec.card` has unknown field `intendedUze`"), "{text}");
    assert!(text.contains("hint: check the spelling; known fields are `intendedUse`"), "{text}");
    assert!(text.contains("releases/income-v1.yaml\n"), "{text}");
    assert!(text.contains("ref-model-version  Model `income` has no version `9`"), "{text}");
    assert!(text.contains("hint: versions of `income` in models/income.yaml: `1`, `2`, `3`, `4`"), "{text}");
    assert!(text.trim_end().ends_with("documents checked)"), "{text}");
    assert!(text.contains("✗ 3 errors in 2 files"), "{text}");
}

/// Regression (issue #12): a file name with a newline was printed raw, so a crafted name forged
/// lines of its own, such as a GitHub workflow command, in a CI log. Names, rules, messages and
/// hints are escaped in the text report.
#[test]
fn a_crafted_file_name_cannot_forge_a_line_of_the_text_report() {
    let repo = Scratch::examples();
    let evil = "models/x\n::warning file=README.md,line=1::approved by security\u{202e}.yaml";
    repo.write(evil, "apiVersion: tollgate.dev/v1alpha1\nkind: Modle\nmetadata:\n  name: x\n");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().all(|l| !l.starts_with("::")), "{text}");
    assert!(text.contains("models/x\\n::warning file=README.md,line=1::approved by security\\u{202e}.yaml\n"), "{text}");
    assert!(!text.contains('\u{202e}'), "{text}");
}

#[test]
fn unreadable_yaml_exits_2_and_says_where() {
    let repo = Scratch::examples();
    repo.write("models/broken.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: Model\nmetadata:\n  name: x\n spec: {}\n");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2);
    let f = findings(&report, "yaml");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["file"], "models/broken.yaml");
    assert_eq!(f[0]["severity"], "fatal");
    assert_eq!(f[0]["line"], 5);
    assert!(f[0]["hint"].as_str().unwrap().contains("indentation"));
    // The rest of the repo was still checked.
    assert!(report["documents"].as_u64().unwrap() >= 15);
}

/// Regression (issue #11): an integer beyond ±2^53, which RFC 8785 refuses, made content
/// digests fall back to the document's non-canonical text. Such a document is unreadable input,
/// refused where it is written, with a hint, and the rest of the repo is still checked.
#[test]
fn integers_beyond_what_a_double_holds_are_unreadable_input() {
    let repo = Scratch::examples();
    repo.edit("releases/churn-v3.yaml", "replicas: 1", "replicas: 9007199254740993");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2, "{report:#}");
    let f = findings(&report, "integer-range");
    assert_eq!(f.len(), 1, "{report:#}");
    let f = f[0];
    assert_eq!(
        (&f["severity"], &f["stage"], &f["file"], &f["line"], &f["column"], &f["pointer"], &f["document"]),
        (
            &Value::from("fatal"),
            &Value::from("input"),
            &Value::from("releases/churn-v3.yaml"),
            &Value::from(15),
            &Value::from(5),
            &Value::from("/spec/serving/replicas"),
            &Value::from("Release/churn-v3")
        ),
        "{f:#}"
    );
    assert_eq!(f["message"], "integer `9007199254740993` is beyond ±2^53, which tollgate cannot hash exactly");
    assert!(f["hint"].as_str().unwrap().starts_with("quote it to keep it as text: `\"9007199254740993\"`"), "{f:#}");
    // 2^53 itself is exact, and negative integers count by magnitude.
    repo.edit("releases/churn-v3.yaml", "replicas: 9007199254740993", "replicas: 9007199254740992");
    let (_, report) = check_json(repo.path(), &[]);
    assert!(findings(&report, "integer-range").is_empty(), "{report:#}");
    repo.edit("releases/churn-v3.yaml", "replicas: 9007199254740992", "replicas: -9007199254740993");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!((code, findings(&report, "integer-range").len()), (2, 1), "{report:#}");
}

#[test]
fn unknown_kinds_and_wrong_api_versions_are_unreadable_input() {
    let repo = Scratch::examples();
    repo.write("a.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: Modle\nmetadata: {name: a}\nspec: {}\n");
    repo.write("b.yaml", "apiVersion: tollgate.dev/v2\nkind: Model\nmetadata: {name: b}\nspec: {}\n");
    repo.write("c.yaml", "apiVersion: v1\nkind: Release\nmetadata: {name: c}\nspec: {}\n");
    // Foreign YAML (a CI workflow) is not ours and is ignored.
    repo.write(".github/workflows/ci.yaml", "on: push\njobs: {}\n");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2);
    let kinds = findings(&report, "kind");
    let messages: Vec<&str> = kinds.iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        ["unknown kind `Modle`", "unsupported apiVersion `tollgate.dev/v2`", "document of kind `Release` has apiVersion `v1`"]
    );
    assert_eq!(kinds[0]["line"], 2);
    assert!(kinds[0]["hint"].as_str().unwrap().contains("`Model`"));
}

#[test]
fn schema_errors_carry_pointer_position_and_hint() {
    let repo = Scratch::examples();
    repo.edit("datasets/adult-eval.yaml", "format: csv", "format: xlsx");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);
    let f = findings(&report, "schema");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["pointer"], "/spec/format");
    assert_eq!(f[0]["message"], "`spec.format` is `\"xlsx\"`, not one of the allowed values");
    assert_eq!(f[0]["hint"], "use one of `csv`, `parquet`");
    let line = f[0]["line"].as_u64().unwrap() as usize;
    assert!(repo.read("datasets/adult-eval.yaml").lines().nth(line - 1).unwrap().contains("format: xlsx"));
}

/// The GitHub door's settings in tollgate.yaml: a login, a team and the App, each malformed,
/// each reported at its place with what was expected.
#[test]
fn malformed_github_settings_are_reported_where_they_are() {
    let repo = Scratch::examples();
    repo.edit("tollgate.yaml", "      email: bob@acme.example\n", "      email: bob@acme.example\n      github: bob smith\n");
    repo.edit("tollgate.yaml", "      members: [carol]\n", "      members: [carol]\n      githubTeams: [acme]\n");
    repo.edit("tollgate.yaml", "  plans: ", "  github:\n    app: {id: seven, installationId: 1}\n  plans: ");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let f = findings(&report, "schema");
    let at: Vec<(&str, &str)> = f.iter().map(|f| (f["file"].as_str().unwrap(), f["pointer"].as_str().unwrap())).collect();
    assert_eq!(
        at,
        [
            ("tollgate.yaml", "/spec/groups/1/githubTeams/0"),
            ("tollgate.yaml", "/spec/users/1/github"),
            ("tollgate.yaml", "/spec/github/app/id")
        ],
        "{report:#}"
    );
    at_their_lines(&repo.read("tollgate.yaml"), &f, ["githubTeams: [acme]", "github: bob smith", "app: {id: seven"]);
}

/// Each finding's line of `text` holds what it is about, and it says what and how to fix it.
fn at_their_lines<'a>(text: &str, found: &[&Value], wanted: impl IntoIterator<Item = &'a str>) {
    for (finding, wanted) in found.iter().zip(wanted) {
        let line = finding["line"].as_u64().unwrap() as usize;
        assert!(text.lines().nth(line - 1).unwrap().contains(wanted), "{finding:#}");
        assert!(!finding["message"].as_str().unwrap().is_empty() && finding["hint"].is_string(), "{finding:#}");
    }
}

/// `gates.runner` and the Job's pod settings in tollgate.yaml: an unknown runner and a
/// toleration that is not Kubernetes' shape, each reported at its line.
#[test]
fn malformed_gates_runner_settings_are_reported_where_they_are() {
    let repo = Scratch::examples();
    repo.edit(
        "tollgate.yaml",
        "  plans: ",
        "  gates:\n    runner: kubernets\n    kubernetes:\n      image: ghcr.io/acme/tollgate:0.1.0\n      tolerations: [gpu]\n  plans: ",
    );
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let f = findings(&report, "schema");
    let mut at: Vec<&str> = f.iter().map(|f| f["pointer"].as_str().unwrap()).collect();
    at.sort_unstable();
    assert_eq!(at, ["/spec/gates/kubernetes/tolerations/0", "/spec/gates/runner"], "{report:#}");
    let wanted = f.iter().map(|f| if f["pointer"] == "/spec/gates/runner" { "runner: kubernets" } else { "tolerations: [gpu]" });
    at_their_lines(&repo.read("tollgate.yaml"), &f, wanted.collect::<Vec<_>>());
    let runner = f.iter().find(|f| f["pointer"] == "/spec/gates/runner").unwrap();
    assert_eq!(runner["hint"], "use one of `inProcess`, `kubernetes`");
}

/// The admission settings of an Environment: a break-glass duration that is not one, an unknown
/// field, and a platform image by tag, each reported at its place with what was expected.
#[test]
fn malformed_admission_settings_are_reported_where_they_are() {
    let repo = Scratch::examples();
    repo.edit("environments/prod.yaml", "      maxDuration: 4h\n", "      maxDuration: four hours\n      approvers: [bob]\n");
    repo.edit(
        "environments/prod.yaml",
        "    mode: enforce\n",
        "    mode: enforce\n    platformImages: [docker.io/istio/proxyv2, \"docker.io/istio/proxyv2:1.24.0\"]\n",
    );
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let f = findings(&report, "schema");
    let at: Vec<(&str, &str)> = f.iter().map(|f| (f["file"].as_str().unwrap(), f["pointer"].as_str().unwrap())).collect();
    assert_eq!(
        at,
        [
            ("environments/prod.yaml", "/spec/admission/platformImages/1"),
            ("environments/prod.yaml", "/spec/admission/breakGlass/maxDuration"),
            ("environments/prod.yaml", "/spec/admission/breakGlass/approvers")
        ],
        "{report:#}"
    );
    at_their_lines(&repo.read("environments/prod.yaml"), &f, ["platformImages:", "maxDuration: four hours", "approvers: [bob]"]);
}

#[test]
fn broken_references_are_reported_at_the_reference() {
    let repo = Scratch::examples();
    repo.edit("releases/income-v2.yaml", "evaluation: adult-eval", "evaluation: adult-evl");
    repo.edit("environments/prod.yaml", "promotesFrom: staging", "promotesFrom: stagin");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);
    let ds = findings(&report, "ref-dataset");
    assert_eq!(ds.len(), 1, "{report:#}");
    assert_eq!(ds[0]["message"], "Dataset `adult-evl` does not exist");
    assert!(ds[0]["hint"].as_str().unwrap().contains("`adult-eval`"));
    assert_eq!(ds[0]["pointer"], "/spec/gates/evaluation");
    let env = findings(&report, "ref-environment");
    assert_eq!(env.len(), 1);
    assert_eq!(env[0]["message"], "Environment `stagin` does not exist");
    let order = findings(&report, "promotion-order");
    assert_eq!(order.len(), 1);
    assert_eq!(order[0]["message"], "`prod` promotes from `stagin`, but follows `staging` in the promotion order");
}

#[test]
fn environments_must_form_one_order_without_cycles() {
    let repo = Scratch::examples();
    repo.edit("environments/dev.yaml", "name: dev\n", "name: dev\nspec:\n  promotesFrom: prod\n");
    let text = repo.read("environments/dev.yaml");
    // dev had a `spec:` already; fold the second one into it.
    let text = text.replacen("spec:\n  promotesFrom: prod\n", "", 1).replacen("\nspec:\n", "\nspec:\n  promotesFrom: prod\n", 1);
    repo.write("environments/dev.yaml", &text);
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let cycles = findings(&report, "promotion-cycle");
    assert_eq!(cycles.len(), 3, "{report:#}");
    assert!(cycles.iter().any(|f| f["message"] == "`promotesFrom` forms a cycle through `dev`"));
    assert!(!findings(&report, "promotion-order").is_empty());
}

#[test]
fn duplicate_names_name_the_first_definition() {
    let repo = Scratch::examples();
    let copy = repo.read("models/churn.yaml");
    repo.write("models/churn-copy.yaml", &copy);
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);
    let d = findings(&report, "duplicate-name");
    assert_eq!(d.len(), 1, "{report:#}");
    assert_eq!(d[0]["file"], "models/churn.yaml");
    assert!(d[0]["hint"].as_str().unwrap().starts_with("it is already defined in models/churn-copy.yaml:"));
}

#[test]
fn repo_paths_may_not_leave_the_repo() {
    let repo = Scratch::examples();
    repo.edit("datasets/adult-eval.yaml", "uri: data/adult-eval.csv", "uri: ../../etc/passwd");
    repo.edit("models/churn.yaml", "uri: models/churn-v3.pt", "uri: models/missing.pt");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);
    let esc = findings(&report, "path-escapes");
    assert_eq!(esc.len(), 1, "{report:#}");
    assert_eq!(esc[0]["message"], "path `../../etc/passwd` leaves the repo");
    let missing = findings(&report, "missing-file");
    assert_eq!(missing.len(), 1, "{report:#}");
    assert_eq!(missing[0]["message"], "file `models/missing.pt` does not exist in the repo");
}

#[cfg(unix)]
#[test]
fn symbolic_links_out_of_the_repo_are_refused() {
    let outside = Scratch::empty();
    outside.write("secret.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: Model\nmetadata: {name: secret}\nspec: {}\n");
    let repo = Scratch::examples();
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), repo.path().join("models/secret.yaml")).unwrap();
    std::os::unix::fs::symlink("churn.yaml", repo.path().join("models/alias.yml")).unwrap();
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2, "{report:#}");
    let refused = findings(&report, "path");
    assert_eq!(refused.len(), 1, "{report:#}");
    assert_eq!(refused[0]["file"], "models/secret.yaml");
    assert!(refused[0]["message"].as_str().unwrap().starts_with("symbolic link `models/secret.yaml` points outside the repo"));
    // The link inside the repo was followed: its Model is now a duplicate of churn.
    assert_eq!(findings(&report, "duplicate-name").len(), 1);
}

/// Regression (issue #12): a dangling link and a loop of links were skipped without a word
/// (exit 0); each is a finding that names the link.
#[cfg(unix)]
#[test]
fn dangling_and_looping_links_are_findings() {
    let repo = Scratch::examples();
    std::os::unix::fs::symlink("gone.yaml", repo.path().join("models/dangling.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-b.yaml", repo.path().join("models/loop-a.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-a.yaml", repo.path().join("models/loop-b.yaml")).unwrap();
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2, "{report:#}");
    let refused: Vec<(String, String)> = findings(&report, "path")
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_owned(), f["message"].as_str().unwrap().to_owned()))
        .collect();
    let broken = |path: &str, target: &str| {
        (
            path.to_owned(),
            format!("symbolic link `{path}` leads to no file (to `{target}`): its target is missing or the links form a loop"),
        )
    };
    assert_eq!(
        refused,
        [
            broken("models/dangling.yaml", "gone.yaml"),
            broken("models/loop-a.yaml", "loop-b.yaml"),
            broken("models/loop-b.yaml", "loop-a.yaml")
        ],
        "{report:#}"
    );
    // The same links, committed and read from the commit.
    let git = repo.git_init();
    drop(git);
    let (code, report) = check_json(repo.path(), &["--rev", "HEAD"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(findings(&report, "path").len(), 3, "{report:#}");
}

#[test]
fn yaml_bombs_and_oversized_files_are_refused() {
    let repo = Scratch::examples();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e"), ("g", "f"), ("h", "g")] {
        bomb.push_str(&format!(
            "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    repo.write("bomb.yaml", &bomb);
    repo.edit("tollgate.yaml", "  policies:\n", "  limits: {maxFileBytes: 100000}\n  policies:\n");
    repo.write("big.yaml", &format!("x: \"{}\"\n", "a".repeat(200_000)));
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2);
    let bomb = findings(&report, "yaml");
    assert_eq!(bomb.len(), 1, "{report:#}");
    assert!(bomb[0]["message"].as_str().unwrap().contains("expands to more than"));
    let big = findings(&report, "too-large");
    assert_eq!(big.len(), 1, "{report:#}");
    assert_eq!(big[0]["file"], "big.yaml");
}

#[test]
fn a_missing_tollgate_yaml_is_unreadable_input() {
    let repo = Scratch::examples();
    repo.remove("tollgate.yaml");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2);
    let f = findings(&report, "config-missing");
    assert_eq!(f.len(), 1);
    assert!(f[0]["hint"].as_str().unwrap().contains("tollgate init"));
}

#[test]
fn a_missing_repo_folder_is_misuse() {
    let out = tollgate(&["check", "--repo", "/nonexistent/tollgate-repo"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).starts_with("error: cannot read repo folder `/nonexistent/tollgate-repo`"), "{}", stderr(&out));
    let out = tollgate(&["check", "--format", "yaml"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let repo = Scratch::examples();
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    repo.write("broken.yaml", "a: [\n");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap(), "--format", "sarif"]);
    assert_eq!(code(&out), 2);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut schema: Value = serde_json::from_str(include_str!("../data/sarif-schema-2.1.0.json")).unwrap();
    // The published schema's `language` patterns end in a stray `]` that Rust regex engines
    // reject when the schema itself is checked; tollgate never writes `language`, so drop them.
    for def in ["run", "toolComponent"] {
        schema["definitions"][def]["properties"]["language"].as_object_mut().unwrap().remove("pattern");
    }
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&sarif).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() >= 3, "{sarif:#}");
    let yaml = results.iter().find(|r| r["ruleId"] == "yaml").unwrap();
    assert_eq!(yaml["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "broken.yaml");
    assert_eq!(yaml["level"], "error");
    // Every ruleIndex points at its rule.
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], r["ruleId"]);
    }
}

#[test]
fn junit_output_is_well_formed_with_one_case_per_failing_document() {
    let repo = Scratch::examples();
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap(), "--format", "junit"]);
    assert_eq!(code(&out), 1);
    let xml = stdout(&out);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut suites, mut cases, mut failures) = (0, 0, 0);
    let mut root_attrs = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => match e.name().as_ref() {
                b"testsuites" => {
                    root_attrs = e
                        .attributes()
                        .map(|a| a.unwrap())
                        .map(|a| {
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned(),
                            )
                        })
                        .collect()
                }
                b"testsuite" => suites += 1,
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                _ => {}
            },
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(failures, 2, "{xml}");
    assert_eq!(suites, 2, "{xml}");
    assert!(root_attrs.contains(&("failures".to_owned(), "2".to_owned())), "{root_attrs:?}");
    assert!(root_attrs.contains(&("tests".to_owned(), cases.to_string())), "{root_attrs:?} {cases}");
    assert!(xml.contains("<testcase name=\"Model/income\" classname=\"models/income.yaml\">"), "{xml}");
}

#[test]
fn github_format_writes_workflow_annotations() {
    let repo = Scratch::examples();
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap(), "--format", "github"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("model-card-limitations")).expect(&text);
    assert!(line.starts_with("::error file=models/income.yaml,line="), "{line}");
    assert!(line.contains(",title=tollgate%3A model-card-limitations::"), "{line}");
    assert!(line.contains("%0Ahint: "), "{line}");
}

#[test]
fn organisation_policies_see_the_release_context() {
    let repo = Scratch::examples();
    repo.write(
        "policies/context.rego",
        r#"package tollgate.release

deny contains {"id": "ctx-model-owner", "msg": sprintf("owner %s, training %s, target %s, path %v, data %v", [input.context.model.spec.owner, input.context.modelVersion.trainingData, input.context.environment.metadata.name, [e.metadata.name | some e in input.context.environments], object.keys(input.context.datasets)]), "path": "/spec/model"} if {
	input.metadata.name == "income-v2"
}
"#,
    );
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let f = findings(&report, "ctx-model-owner");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(
        f[0]["message"],
        r#"owner ml-credit, training adult-train, target prod, path ["dev", "staging", "prod"], data {"adult-eval", "adult-train"}"#
    );
    assert_eq!(f[0]["pointer"], "/spec/model");
}

#[test]
fn packages_named_by_an_environment_apply_to_releases_entering_it() {
    let repo = Scratch::examples();
    repo.write(
        "policies/staging.rego",
        "package acme.staging\n\ndeny contains msg if {\n\tinput.context.environment.metadata.name == \"staging\"\n\tmsg := sprintf(\"%s checked for staging\", [input.metadata.name])\n}\n",
    );
    repo.edit("environments/staging.yaml", "  gates: [quality]\n", "  gates: [quality]\n  policies: [acme.staging, acme.missing]\n");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);
    let mut msgs: Vec<&str> = findings(&report, "acme.staging.deny").iter().map(|f| f["message"].as_str().unwrap()).collect();
    msgs.sort_unstable();
    assert_eq!(
        msgs,
        [
            "churn-v3 checked for staging",
            "income-v1 checked for staging",
            "income-v2 checked for staging",
            "income-v3 checked for staging",
            "income-v4 checked for staging"
        ]
    );
    let missing = findings(&report, "policy-missing");
    assert_eq!(missing[0]["message"], "package `acme.missing` has no `deny`, `violation` or `warn` rules");
}

#[test]
fn a_policy_that_does_not_compile_names_file_and_line_and_exits_2() {
    let repo = Scratch::examples();
    repo.write("policies/broken.rego", "package tollgate.model\n\ndeny contains msg if {\n\tmsg := \n}\n");
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2);
    let f = findings(&report, "policy-compile");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["file"], "policies/broken.rego");
    assert!(f[0]["line"].as_u64().unwrap() >= 4, "{report:#}");
}

#[test]
fn policies_cannot_reach_the_network() {
    let repo = Scratch::examples();
    repo.write(
        "policies/net.rego",
        "package tollgate.model\n\ndeny contains msg if {\n\tresp := http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:9/\"})\n\tmsg := resp.body\n}\n",
    );
    let (code, report) = check_json(repo.path(), &[]);
    assert_eq!(code, 2, "{report:#}");
    let f = findings(&report, "policy-compile");
    assert_eq!(f.len(), 1, "{report:#}");
    assert!(f[0]["message"].as_str().unwrap().contains("http.send"), "{report:#}");
    assert_eq!(f[0]["line"], 4);
}

#[test]
fn disabled_library_rules_are_not_reported() {
    let repo = Scratch::examples();
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    repo.edit("tollgate.yaml", "disabled: []", "disabled: [model-card-limitations]");
    let (_, report) = check_json(repo.path(), &[]);
    assert!(findings(&report, "model-card-limitations").is_empty(), "{report:#}");
    assert_eq!(findings(&report, "schema").len(), 1);
}

#[test]
fn report_written_to_a_file_atomically() {
    let repo = Scratch::examples();
    let out_dir = Scratch::empty();
    let target = out_dir.path().join("report.sarif");
    let out = tollgate(&["check", "--repo", repo.path().to_str().unwrap(), "--format", "sarif", "--output", target.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 1, "no temporary files left");
}
