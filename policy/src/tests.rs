use serde_json::json;

use super::*;

fn bundle(src: &str) -> Bundle {
    Bundle::compile(&[("p.rego".to_owned(), src.to_owned())], false).expect("compiles")
}

#[test]
fn results_may_be_strings_or_objects() {
    let b = bundle(
        "package tollgate.model\n\ndeny contains \"plain\" if input.x == 1\n\nwarn contains {\"id\": \"w1\", \"msg\": \"object\", \"path\": \"/spec\", \"hint\": \"do it\"} if input.x == 1\n",
    );
    assert!(b.has_rules("tollgate.model"));
    assert!(!b.has_rules("tollgate.dataset"));
    let mut ev = b.evaluator();
    let input = PolicyInput::new(&json!({"x": 1}), &json!({}));
    let results = ev.evaluate(&input, &["tollgate.model".to_owned()]).unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].message, "plain");
    assert_eq!(results[0].id, "tollgate.model.deny");
    assert!(!results[0].is_warning());
    assert_eq!(results[1].id, "w1");
    assert_eq!(results[1].path.as_deref(), Some("/spec"));
    assert_eq!(results[1].hint.as_deref(), Some("do it"));
    let none = ev.evaluate(&PolicyInput::new(&json!({"x": 2}), &json!({})), &["tollgate.model".to_owned()]).unwrap();
    assert!(none.is_empty());
}

#[test]
fn evaluators_reuse_engines_and_carry_nothing_from_one_document_to_the_next() {
    // `walk` and comprehensions keep values per expression while they loop; a reused engine must
    // start each document clean, also after an evaluation that failed half-way.
    let b = bundle(
        "package tollgate.model\n\ndeny contains sprintf(\"%v\", [path]) if {\n\twalk(input.doc, [path, value])\n\tvalue == \"bad\"\n}\n\ndeny contains \"names\" if count([n | some m in input.models; n := m.name]) != count(input.models)\n\nv := 1 if input.conflict\n\nv := 2 if input.conflict\n\ndeny contains \"v\" if v == 3\n",
    );
    let packages = ["tollgate.model".to_owned()];
    let run = |doc: serde_json::Value| b.evaluator().evaluate(&PolicyInput::new(&doc, &json!({})), &packages);
    let first = run(json!({"doc": {"a": ["ok", "bad"]}, "models": [{"name": "m"}, {}]})).unwrap();
    let mut messages: Vec<&str> = first.iter().map(|r| r.message.as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["[\"a\", 1]", "names"]);
    assert_eq!(b.spare.lock().unwrap().len(), 1, "the engine went back to the bundle");
    assert!(run(json!({"doc": {"b": "ok"}, "models": [{"name": "m"}]})).unwrap().is_empty());
    // Two values of a complete rule is an error: the engine is replaced, not reused.
    let err = run(json!({"doc": {"c": "bad"}, "conflict": true})).unwrap_err();
    assert!(matches!(err, PolicyError::Eval { .. }), "{err:?}");
    assert_eq!(run(json!({"doc": {"d": "bad"}})).unwrap().iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["[\"d\"]"]);
    assert!(run(json!({"doc": {}})).unwrap().is_empty());
}

#[test]
fn a_package_s_result_rules_are_evaluated_together_with_the_same_results_and_errors() {
    // `deny` and `warn` share `names`; `violation` is a complete rule, undefined unless
    // `input.strict`; `warn` fails at run time (two values of `level`) when `input.conflict`.
    let b = bundle(
        "package tollgate.model\n\nnames contains n if {\n\tsome m in input.models\n\tn := m.name\n}\n\ndeny contains sprintf(\"unnamed %d\", [count(input.models) - count(names)]) if count(names) < count(input.models)\n\nviolation := \"strict\" if input.strict\n\nlevel := 1 if input.conflict\n\nlevel := 2 if input.conflict\n\nwarn contains n if {\n\tsome n in names\n\tnot level == 3\n\tstartswith(n, \"tmp\")\n}\n",
    );
    assert_eq!(b.combined.get("tollgate.model").map(String::as_str), Some("data.__tollgate_results.p0.results"));
    let packages = ["tollgate.model".to_owned()];
    let run = |doc: serde_json::Value| b.evaluator().evaluate(&PolicyInput::new(&doc, &json!({})), &packages);
    let text = |results: Vec<PolicyResult>| results.into_iter().map(|r| format!("{} {}", r.rule, r.message)).collect::<Vec<_>>();
    // The same results, in the same order, as one evaluation per rule.
    let models = json!({"models": [{"name": "tmp-a"}, {}, {"name": "b"}], "strict": true});
    assert_eq!(text(run(models.clone()).unwrap()), ["deny unnamed 1", "violation strict", "warn tmp-a"]);
    let mut one_by_one = Vec::new();
    for rule in RULES {
        let mut engine = Engine::clone(&b.engine);
        engine.set_input(PolicyInput::new(&models, &json!({})).0);
        collect(&engine.eval_rule(format!("data.tollgate.model.{rule}")).unwrap(), rule, "tollgate.model", &mut one_by_one);
    }
    assert_eq!(text(run(models).unwrap()), text(one_by_one));
    // `violation` undefined: the other rules' results still come.
    assert_eq!(text(run(json!({"models": [{"name": "tmp-b"}]})).unwrap()), ["warn tmp-b"]);
    // A failing rule is named, as when each rule was evaluated alone.
    let err = run(json!({"models": [{"name": "tmp-c"}], "conflict": true})).unwrap_err();
    let PolicyError::Eval { rule, .. } = &err else { panic!("{err:?}") };
    assert_eq!(rule, "data.tollgate.model.warn");
    // Generated rules are not the bundle's: not its packages, not its sources.
    assert_eq!(b.packages(), ["tollgate.model"]);
    assert!(b.sources.iter().all(|(path, _)| path == "p.rego"));
}

#[test]
fn cases_of_result_rules_are_checked_against_the_one_pass_too() {
    let b = bundle(
        "package tollgate.model\n\nnames contains n if {\n\tsome m in input.models\n\tn := m.name\n}\n\ndeny contains n if {\n\tsome n in names\n\tstartswith(n, \"bad\")\n}\n\nwarn contains n if {\n\tsome n in names\n\tstartswith(n, \"tmp\")\n}\n",
    );
    let cases = "- note: both\n  query: data.tollgate.model.deny\n  input: {models: [{name: bad-a}, {name: tmp-b}]}\n  want_result: [bad-a]\n- note: a helper rule\n  query: data.tollgate.model.names\n  input: {models: [{name: a}]}\n  want_result: [a]\n";
    let outcomes = run_cases(&b, "cases/model.yaml", cases).unwrap();
    assert_eq!(outcomes.iter().map(|o| &o.result).collect::<Vec<_>>(), [&TestResult::Pass, &TestResult::Pass]);
    // The comparison itself: against the rule's own value, and against another value.
    let mut engine = Engine::clone(&b.engine);
    engine.set_input(to_rego(&json!({"models": [{"name": "bad-a"}, {"name": "tmp-b"}]})));
    let own = engine.eval_rule("data.tollgate.model.warn".to_owned()).unwrap();
    assert_eq!(b.one_pass_disagrees(&mut engine, "data.tollgate.model.warn", &own), None);
    let other = RValue::from_json_str(r#"["tmp-c"]"#).unwrap();
    assert_eq!(b.one_pass_disagrees(&mut engine, "data.tollgate.model.warn", &other).as_deref(), Some(r#"["tmp-b"]"#));
    // Not a result rule, or a package not evaluated in one pass: nothing to compare.
    assert_eq!(b.one_pass_disagrees(&mut engine, "data.tollgate.model.names", &other), None);
    assert_eq!(b.one_pass_disagrees(&mut engine, "data.tollgate.dataset.deny", &other), None);
}

#[test]
fn the_package_of_generated_rules_is_refused_in_sources() {
    let err = Bundle::compile(&[("org/x.rego".to_owned(), "# mine\npackage __tollgate_results.p0\n\nresults := 1\n".to_owned())], false)
        .unwrap_err();
    assert_eq!(
        err,
        [PolicyError::Compile {
            file: "org/x.rego".into(),
            line: 2,
            column: 1,
            message: "package `__tollgate_results.p0` is reserved for the rules tollgate generates; rename the package".into()
        }]
    );
}

#[test]
fn context_is_visible_to_rules() {
    let b = bundle("package tollgate.release\n\ndeny contains input.context.author.name if input.context.author.name == \"mallory\"\n");
    let mut ev = b.evaluator();
    let input = PolicyInput::new(&json!({"kind": "Release"}), &json!({"author": {"name": "mallory"}}));
    let results = ev.evaluate(&input, &["tollgate.release".to_owned()]).unwrap();
    assert_eq!(results[0].message, "mallory");
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let err = Bundle::compile(&[("org/bad.rego".to_owned(), "package x\n\nallow if {\n\tinput.a ==\n}\n".to_owned())], false).unwrap_err();
    let PolicyError::Compile { file, line, column, message } = &err[0] else { panic!("{err:?}") };
    assert_eq!(file, "org/bad.rego");
    assert_eq!(*line, 5);
    assert!(*column >= 1);
    assert!(!message.is_empty() && !message.contains('\n'), "{message}");
}

#[test]
fn network_builtins_are_refused_but_not_in_strings_or_comments() {
    let err = Bundle::compile(
        &[(
            "n.rego".to_owned(),
            "package x\n\n# http.send(x) in a comment is fine\nr := \"http.send(\" if true\n\ns := net.lookup_ip_addr(\"example.com\")\n"
                .to_owned(),
        )],
        false,
    )
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(
        err[0],
        PolicyError::Compile {
            file: "n.rego".into(),
            line: 6,
            column: 6,
            message: "builtin `net.lookup_ip_addr` reaches the network or the host; tollgate policies cannot use it".into(),
        }
    );
}

#[test]
fn the_digest_changes_with_any_source_byte() {
    let a = bundle("package x\n\nallow := true\n");
    let b = bundle("package x\n\nallow := false\n");
    assert_ne!(a.digest(), b.digest());
    assert_eq!(a.digest(), bundle("package x\n\nallow := true\n").digest());
}

#[test]
fn the_default_library_compiles_and_defines_rules_for_every_kind() {
    let b = Bundle::compile(&[], true).unwrap();
    for kind in ["model", "dataset", "release", "environment", "terraform", "kubernetes"] {
        assert!(b.has_rules(&format!("tollgate.lib.{kind}")), "{kind}");
    }
}

#[test]
fn rule_heads_are_found_at_the_start_of_lines() {
    let names = rule_heads(
        "package p\n\ntest_a if true\ntest_b := true\n  test_c if true\ndefault allow := false\nhelper(x) := x\n# test_d if true\n",
    );
    assert_eq!(names, ["test_a", "test_b", "allow", "helper"]);
}
