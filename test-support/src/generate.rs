//! The generated config repo the controller benchmarks run on: `docs` documents (one Config,
//! three environments, then models, datasets and releases 1:1:3) and 20 policies.

use std::path::Path;

/// How many policies the generated repo has.
pub const POLICY_COUNT: usize = 20;

/// Writes the repo into `root`; returns the document files written.
pub fn generate(root: &Path, docs: usize) -> Vec<String> {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    let mut files = Vec::new();
    let api = "apiVersion: tollgate.dev/v1alpha1";
    write(
        "tollgate.yaml",
        &format!(
            "{api}\nkind: Config\nmetadata: {{name: bench}}\nspec:\n  environments: [dev, staging, prod]\n  groups:\n    - {{name: leads, members: [alice, bob]}}\n  users:\n    - {{name: alice, email: alice@example.invalid, roles: [approver]}}\n    - {{name: bob, email: bob@example.invalid, roles: [approver, admin]}}\n  policies:\n    paths: [policies]\n    defaultLibrary: false\n"
        ),
    );
    files.push("tollgate.yaml".to_owned());
    for (env, from) in [("dev", None), ("staging", Some("dev")), ("prod", Some("staging"))] {
        let from = from.map_or_else(String::new, |f| format!("  promotesFrom: {f}\n"));
        write(
            &format!("environments/{env}.yaml"),
            &format!(
                "{api}\nkind: Environment\nmetadata: {{name: {env}}}\nspec:\n{from}  approvals: {{required: 1, groups: [leads], separationOfDuties: true}}\n  gates: [quality]\n"
            ),
        );
        files.push(format!("environments/{env}.yaml"));
    }
    let remaining = docs.saturating_sub(4);
    let models = remaining / 5;
    let datasets = remaining / 5;
    let releases = remaining - models - datasets;
    write("artifacts/model.pt", "weights");
    write("data/eval.csv", "age,label\n1,0\n");
    let digest = "3f".repeat(32);
    for i in 0..models {
        write(
            &format!("models/m{i:05}.yaml"),
            &format!(
                "{api}\nkind: Model\nmetadata:\n  name: m{i:05}\n  labels: {{team: t{}}}\nspec:\n  task: binaryClassification\n  owner: team-{}\n  card:\n    intendedUse: Ranks applications for review.\n    limitations: Trained on one country's data.\n    trainingData: {{description: census extract}}\n  signature:\n    inputs:\n      - {{name: age, type: integer}}\n      - {{name: hours, type: integer}}\n    output: {{kind: probability}}\n  versions:\n    - version: \"1\"\n      artifact: {{uri: artifacts/model.pt, sha256: {digest}, format: torchscript}}\n    - version: \"2\"\n      artifact: {{uri: artifacts/model.pt, sha256: {digest}, format: torchscript}}\n",
                i % 7,
                i % 13
            ),
        );
        files.push(format!("models/m{i:05}.yaml"));
    }
    for i in 0..datasets {
        write(
            &format!("datasets/d{i:05}.yaml"),
            &format!(
                "{api}\nkind: Dataset\nmetadata: {{name: d{i:05}}}\nspec:\n  uri: data/eval.csv\n  sha256: {digest}\n  format: csv\n  label: label\n  sensitiveFeatures: [sex]\n  schema:\n    columns:\n      - {{name: age, type: integer, range: {{min: 0, max: 120}}}}\n      - {{name: sex, type: category, allowedValues: [Female, Male]}}\n      - {{name: hours, type: integer}}\n      - {{name: label, type: integer, allowedValues: [0, 1]}}\n  lineage: {{source: census}}\n"
            ),
        );
        files.push(format!("datasets/d{i:05}.yaml"));
    }
    for i in 0..releases {
        let m = i % models.max(1);
        let d = i % datasets.max(1);
        write(
            &format!("releases/r{i:05}.yaml"),
            &format!(
                "{api}\nkind: Release\nmetadata: {{name: r{i:05}}}\nspec:\n  model: {{name: m{m:05}, version: \"{}\"}}\n  environment: prod\n  description: release {i}\n  serving:\n    image: ghcr.io/acme/serve@sha256:{digest}\n    replicas: 2\n    resources: {{requests: {{cpu: 500m, memory: 1Gi}}, limits: {{cpu: \"1\", memory: 2Gi}}}}\n  gates:\n    evaluation: d{d:05}\n    quality:\n      - {{metric: roc_auc, min: 0.8}}\n      - {{metric: accuracy, min: 0.75}}\n    fairness:\n      - {{metric: demographic_parity_ratio, min: 0.8, sensitiveFeatures: [sex]}}\n",
                1 + i % 2
            ),
        );
        files.push(format!("releases/r{i:05}.yaml"));
    }
    for (i, text) in policies().iter().enumerate() {
        write(&format!("policies/p{i:02}.rego"), text);
    }
    files
}

/// Twenty policies over four kinds, of the size and shape the default library has.
pub fn policies() -> Vec<String> {
    let mut out = Vec::new();
    let kinds = ["model", "dataset", "release", "environment"];
    for i in 0..POLICY_COUNT {
        let kind = kinds[i % kinds.len()];
        let body = match kind {
            "model" => format!(
                "deny contains {{\"id\": \"m{i}\", \"msg\": sprintf(\"model %s version %s pins no digest\", [input.metadata.name, v.version]), \"path\": \"/spec/versions\"}} if {{\n\tsome v in input.spec.versions\n\tnot regex.match(\"^[0-9a-f]{{64}}$\", v.artifact.sha256)\n}}\n\nwarn contains {{\"id\": \"mw{i}\", \"msg\": \"short intended use\"}} if count(input.spec.card.intendedUse) < {}\n",
                5 + i
            ),
            "dataset" => format!(
                "deny contains {{\"id\": \"d{i}\", \"msg\": sprintf(\"column %s looks like personal data\", [c.name]), \"path\": \"/spec/schema/columns\"}} if {{\n\tsome c in input.spec.schema.columns\n\tcontains(lower(c.name), \"email{i}\")\n\tnot c.pii\n}}\n\nwarn contains \"no lineage\" if not input.spec.lineage.source\n"
            ),
            "release" => format!(
                "deny contains {{\"id\": \"r{i}\", \"msg\": sprintf(\"image %s is not pinned\", [input.spec.serving.image]), \"path\": \"/spec/serving/image\"}} if {{\n\tnot contains(input.spec.serving.image, \"@sha256:\")\n}}\n\ndeny contains {{\"id\": \"rr{i}\", \"msg\": \"fairness gates missing\"}} if {{\n\tcount(object.get(input.spec.gates, \"fairness\", [])) == 0\n\tinput.spec.environment == \"prod{i}\"\n}}\n"
            ),
            _ => format!(
                "deny contains {{\"id\": \"e{i}\", \"msg\": \"prod needs approvals\"}} if {{\n\tinput.metadata.name == \"prod\"\n\tinput.spec.approvals.required < 1\n}}\n\nwarn contains \"no gates {i}\" if count(object.get(input.spec, \"gates\", [])) == 0\n"
            ),
        };
        out.push(format!("package tollgate.{kind}\n\n{body}"));
    }
    out
}
