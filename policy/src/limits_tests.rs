//! Policies that would crash or exhaust the process (issue #12 item 1): each ends in an error
//! that names the policy and the limit, and the evaluator goes on working afterwards.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn compile(files: &[(&str, &str)]) -> Result<Bundle, Vec<PolicyError>> {
    let sources: Vec<(String, String)> = files.iter().map(|(p, s)| ((*p).to_owned(), (*s).to_owned())).collect();
    Bundle::compile(&sources, false)
}

fn refused(files: &[(&str, &str)]) -> Vec<PolicyError> {
    match compile(files) {
        Ok(_) => panic!("the bundle compiled"),
        Err(errors) => errors,
    }
}

fn message(err: &PolicyError) -> (&str, u32, &str) {
    let PolicyError::Compile { file, line, message, .. } = err else { panic!("{err:?}") };
    (file, *line, message)
}

#[test]
fn a_self_recursive_function_is_refused_at_compile_time() {
    let errors = refused(&[(
        "org/fact.rego",
        "package tollgate.model\n\nfact(n) := 1 if n <= 1\n\nfact(n) := n * fact(n - 1) if n > 1\n\ndeny contains \"big\" if fact(30) > 10\n",
    )]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        message(&errors[0]),
        (
            "org/fact.rego",
            3,
            "`data.tollgate.model.fact` is recursive: data.tollgate.model.fact -> data.tollgate.model.fact; Rego does not allow recursion"
        )
    );
}

#[test]
fn mutual_recursion_across_packages_and_imports_is_refused() {
    let errors = refused(&[
        ("a.rego", "package lib.a\n\nimport data.lib.b\n\nping(n) := b.pong(n)\n"),
        ("b.rego", "package lib.b\n\npong(n) := data.lib.a.ping(n)\n"),
        ("m.rego", "package tollgate.model\n\ndeny contains x if x := data.lib.a.ping(1)\n"),
    ]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        message(&errors[0]),
        (
            "a.rego",
            5,
            "`data.lib.a.ping` is recursive: data.lib.a.ping -> data.lib.b.pong -> data.lib.a.ping; Rego does not allow recursion"
        )
    );
}

#[test]
fn recursive_rules_and_dynamic_data_references_are_refused() {
    let rules = refused(&[("r.rego", "package x\n\np contains v if some v in q\n\nq contains v if some v in p\n")]);
    assert_eq!(message(&rules[0]).2, "`data.x.p` is recursive: data.x.p -> data.x.q -> data.x.p; Rego does not allow recursion");
    // `data[k]` may reach any rule, this one included.
    let dynamic = refused(&[("d.rego", "package x\n\np contains k if some k, _ in data[\"x\"]\n")]);
    assert_eq!(message(&dynamic[0]).2, "`data.x.p` is recursive: data.x.p -> data.x.p; Rego does not allow recursion");
}

#[test]
fn functions_calling_functions_and_parameters_named_like_rules_compile() {
    let b = compile(&[(
        "ok.rego",
        "package tollgate.model\n\ndouble(x) := x * 2\n\nquad(x) := double(double(x))\n\n# A parameter may share a rule's name.\ncheck(deny) := deny + 1\n\ndeny contains sprintf(\"%d\", [quad(input.n)]) if check(1) == 2\n",
    )])
    .expect("compiles");
    let out = b.evaluator().evaluate(&PolicyInput::new(&json!({"n": 3}), &json!({})), &["tollgate.model".to_owned()]).unwrap();
    assert_eq!(out[0].message, "12");
}

/// `r0 := r1 + 1`, `r1 := r2 + 1`, ... `r{n-1} := 1`.
fn chain(n: usize) -> String {
    let mut text = String::from("package tollgate.model\n\n");
    for i in 0..n - 1 {
        text.push_str(&format!("r{i} := r{} + 1\n", i + 1));
    }
    text.push_str(&format!("r{} := 1\n\ndeny contains sprintf(\"%d\", [r0]) if true\n", n - 1));
    text
}

#[test]
fn the_longest_allowed_chain_evaluates_on_a_small_thread_and_a_longer_one_is_refused() {
    let errors = refused(&[("c.rego", &chain(MAX_CHAIN + 1))]);
    assert_eq!(message(&errors[0]), ("c.rego", 3, "`data.tollgate.model.r0` depends on a chain of 257 rules; at most 256 are allowed"));
    // `deny` -> r0 -> ... is MAX_CHAIN rules deep: evaluated on a thread with a 2 MiB stack (what
    // rayon's workers get), as the check does.
    let bundle = compile(&[("c.rego", &chain(MAX_CHAIN - 1))]).expect("compiles");
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || bundle.evaluator().evaluate(&PolicyInput::new(&json!({}), &json!({})), &["tollgate.model".to_owned()]))
        .unwrap()
        .join()
        .expect("no stack overflow")
        .unwrap();
    assert_eq!(out[0].message, (MAX_CHAIN - 1).to_string());
}

fn evaluate(bundle: &Bundle, input: serde_json::Value) -> Result<Vec<PolicyResult>, PolicyError> {
    bundle.evaluator().evaluate(&PolicyInput::new(&input, &json!({})), &["tollgate.model".to_owned()])
}

#[test]
fn a_slow_policy_is_stopped_at_its_time_budget_and_names_itself() {
    let bundle = compile(&[(
        "org/slow.rego",
        "package tollgate.model\n\ndeny contains \"pairs\" if count({[a, b] | some a in numbers.range(1, input.n); some b in numbers.range(1, input.n)}) > 0\n",
    )])
    .unwrap()
    .with_limits(Limits { timeout: Duration::from_millis(200), ..Limits::default() });
    let start = Instant::now();
    let err = evaluate(&bundle, json!({"n": 3000})).unwrap_err();
    let took = start.elapsed();
    assert_eq!(
        err,
        PolicyError::Limit {
            rule: "data.tollgate.model.deny".into(),
            policy: "org/slow.rego".into(),
            exceeded: Exceeded::Time(Duration::from_millis(200))
        }
    );
    assert_eq!(err.to_string(), "evaluating `data.tollgate.model.deny` (org/slow.rego) was stopped: it exceeded its time budget of 200ms");
    // Unstopped, 3000 x 3000 pairs take tens of seconds; stopped, well under.
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The same evaluator-free bundle still answers a small input.
    assert_eq!(evaluate(&bundle, json!({"n": 3})).unwrap().len(), 1);
}

#[test]
fn a_huge_range_is_refused_before_it_is_allocated() {
    let bundle = compile(&[(
        "org/range.rego",
        "package tollgate.model\n\ndeny contains \"many\" if count([x | some x in numbers.range(1, input.n)]) > 0\n\nwarn contains \"stepped\" if count(numbers.range_step(1, input.n, 1)) > 0\n",
    )])
    .unwrap();
    // 10^10 elements would ask for 240 GB in one allocation, which aborts the process.
    let err = evaluate(&bundle, json!({"n": 10_000_000_000u64})).unwrap_err();
    assert_eq!(
        err,
        PolicyError::Limit {
            rule: "data.tollgate.model.deny".into(),
            policy: "org/range.rego".into(),
            exceeded: Exceeded::Memory(1 << 30)
        }
    );
    assert_eq!(
        err.to_string(),
        "evaluating `data.tollgate.model.deny` (org/range.rego) was stopped: it exceeded its memory budget of 1 GiB"
    );
    assert_eq!(evaluate(&bundle, json!({"n": 10})).unwrap().len(), 2);
}

#[test]
fn memory_that_grows_step_by_step_is_stopped_at_the_budget() {
    // Each step doubles a string: 2^31 bytes after 31 steps, far past a 64 MiB budget, reached
    // in well under the time budget.
    let bundle = compile(&[(
        "org/grow.rego",
        "package tollgate.model\n\ndeny contains \"big\" if {\n\ts := concat(\"\", [input.seed, input.seed])\n\tt := concat(\"\", [s, s, s, s, s, s, s, s])\n\tu := concat(\"\", [t, t, t, t, t, t, t, t])\n\tv := concat(\"\", [u, u, u, u, u, u, u, u])\n\tw := concat(\"\", [v, v, v, v, v, v, v, v])\n\tx := concat(\"\", [w, w, w, w, w, w, w, w])\n\ty := concat(\"\", [x, x, x, x, x, x, x, x])\n\tcount(y) > 0\n}\n",
    )])
    .unwrap()
    .with_limits(Limits { memory: 64 << 20, ..Limits::default() });
    let err = evaluate(&bundle, json!({"seed": "x".repeat(1024)})).unwrap_err();
    assert!(matches!(err, PolicyError::Limit { exceeded: Exceeded::Memory(n), .. } if n == 64 << 20), "{err:?}");
    assert_eq!(evaluate(&bundle, json!({"seed": "x"})).unwrap().len(), 1);
}

#[test]
fn sprintf_widths_that_would_abort_or_panic_are_errors() {
    let bundle = compile(&[("s.rego", "package tollgate.model\n\ndeny contains sprintf(input.format, [1]) if true\n")]).unwrap();
    let wide = evaluate(&bundle, json!({"format": "%09999999999d"})).unwrap_err();
    assert_eq!(
        wide.to_string(),
        "evaluating `data.tollgate.model.deny` failed: s.rego:3:22: sprintf: a field width above 65536 is not allowed"
    );
    // regorus reads a width with `char::is_numeric` and then panics on a digit that is not ASCII.
    let arabic = evaluate(&bundle, json!({"format": "%\u{0663}d"})).unwrap_err();
    assert_eq!(
        arabic.to_string(),
        "evaluating `data.tollgate.model.deny` failed: s.rego:3:22: sprintf: the width `\u{0663}` in the format is not an ASCII digit"
    );
    assert_eq!(evaluate(&bundle, json!({"format": "%05d|%%"})).unwrap()[0].message, "00001|%");
}

#[test]
fn a_zero_step_range_is_undefined_not_a_division_by_zero() {
    let bundle =
        compile(&[("z.rego", "package tollgate.model\n\ndeny contains \"r\" if count(numbers.range_step(1, 10, input.step)) > 0\n")])
            .unwrap();
    assert!(evaluate(&bundle, json!({"step": 0})).unwrap().is_empty());
    assert_eq!(evaluate(&bundle, json!({"step": 3})).unwrap().len(), 1);
}
