//! terraform/: parsed with python-hcl2 (no terraform binary can be installed here), checkov, and
//! tollgate's own Terraform policies on the example's plan, written by hand in `terraform show
//! -json`'s format (terraform/examples/eks/plan.json).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};
use tollgate_deploy_tests::{checkov_failures, config_repo, justified_checks, root, run, tollgate_check, tool};

/// Every `.tf` file of the module and its example, as python-hcl2 reads it (JSON by file).
fn parsed() -> Value {
    let script = "import glob, json, sys, hcl2\n\
                  out = {}\n\
                  for f in sorted(glob.glob('terraform/**/*.tf', recursive=True)):\n\
                  \x20   with open(f) as h:\n\
                  \x20       out[f] = hcl2.load(h)\n\
                  json.dump(out, sys.stdout)\n";
    let r = run(Command::new(tool("TOLLGATE_DEPLOY_PYTHON")).args(["-c", script]).current_dir(root()));
    assert_eq!(r.code, 0, "python-hcl2: {}", r.both());
    serde_json::from_str(&r.stdout).expect("JSON")
}

#[test]
fn module_parses_and_validates_its_inputs() {
    let files = parsed();
    let names: BTreeSet<&str> = files.as_object().expect("files").keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "terraform/database.tf",
            "terraform/examples/eks/main.tf",
            "terraform/gpu.tf",
            "terraform/main.tf",
            "terraform/outputs.tf",
            "terraform/variables.tf",
            "terraform/versions.tf",
        ])
    );
    // Every input has a description and a type; those a platform team can get wrong are validated.
    let mut validated = BTreeSet::new();
    for block in files["terraform/variables.tf"]["variable"].as_array().expect("variables") {
        // python-hcl2 puts each attribute's value in a list, and adds `__start_line__`-style keys.
        for (name, v) in block.as_object().expect("variable").iter().filter(|(k, _)| !k.starts_with("__")) {
            assert!(v["description"][0].as_str().is_some_and(|d| !d.is_empty()), "{name}: description");
            assert!(v.get("type").is_some(), "{name}: type");
            if v.get("validation").is_some() {
                validated.insert(name.as_str());
            }
        }
    }
    assert_eq!(
        validated,
        BTreeSet::from([
            "audit_key_secret",
            "database",
            "gpu_node_pool",
            "image",
            "managed_postgresql",
            "namespace",
            "release_name",
            "replicas",
            "repo",
            "tls_mode"
        ])
    );
    // The chart is installed with the helm provider, into the namespace the module makes with
    // the restricted Pod Security Standard enforced.
    let main = &files["terraform/main.tf"];
    let release =
        &main["resource"].as_array().expect("resources").iter().find_map(|r| r.get("helm_release")).expect("helm_release")["tollgate"];
    assert_eq!(release["atomic"], json!([true]));
    let ns = main["resource"].as_array().expect("resources").iter().find_map(|r| r.get("kubernetes_namespace_v1")).expect("namespace");
    assert_eq!(ns["tollgate"]["metadata"][0]["labels"][0]["pod-security.kubernetes.io/enforce"], "restricted");
    // The example uses the module.
    let example = &files["terraform/examples/eks/main.tf"]["module"][0]["tollgate"];
    assert_eq!(example["source"], json!(["../.."]));
    assert_eq!(example["replicas"], json!([3]));
}

#[test]
fn checkov_fails_only_what_the_readme_justifies() {
    let failed: BTreeSet<String> = checkov_failures(&["-d", "terraform"], "terraform").into_iter().map(|(id, _)| id).collect();
    let justified: BTreeSet<String> = justified_checks(&root().join("terraform/README.md")).into_iter().collect();
    assert_eq!(failed, justified, "failed checkov checks vs. those terraform/README.md justifies");
}

/// tollgate's Terraform policies pass the example's plan, and catch SSH opened to the world in
/// the module's security group: the plan is read, not waved through.
#[test]
fn tollgate_policies_check_the_example_plan() {
    let text = std::fs::read_to_string(root().join("terraform/examples/eks/plan.json")).expect("plan.json");
    let repo = config_repo(&[("infra/eks.plan.json", text.as_str())]);
    let (r, report) = tollgate_check(repo.path());
    assert_eq!(r.code, 0, "{}", r.both());
    assert_eq!(report["findings"], json!([]), "{}", r.both());

    let mut plan: Value = serde_json::from_str(&text).expect("JSON");
    let sg = plan["resource_changes"]
        .as_array_mut()
        .expect("resource_changes")
        .iter_mut()
        .find(|c| c["type"] == "aws_security_group")
        .expect("the store's security group");
    sg["change"]["after"]["ingress"]
        .as_array_mut()
        .expect("ingress")
        .push(json!({"cidr_blocks": ["0.0.0.0/0"], "description": "ssh", "from_port": 22, "to_port": 22, "protocol": "tcp",
                     "ipv6_cidr_blocks": [], "prefix_list_ids": [], "security_groups": [], "self": false}));
    let repo = config_repo(&[("infra/eks.plan.json", serde_json::to_string(&plan).expect("JSON").as_str())]);
    let (r, report) = tollgate_check(repo.path());
    assert_eq!(r.code, 1, "{}", r.both());
    let ids: Vec<&str> = report["findings"].as_array().expect("findings").iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(ids, ["terraform-ssh-open-to-world"], "{}", r.both());
}
