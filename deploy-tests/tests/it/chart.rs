//! charts/tollgate: lint, the schema's refusals, what renders, the webhook, the pods' security,
//! the OpenAPI schemas, checkov, and tollgate's own policies over its own chart.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};
use tollgate_deploy_tests::{
    CI_VALUES, NAMESPACE, chart, checkov_failures, config_repo, find, helm_template, justified_checks, objects, render, root, run,
    tollgate_check, tool,
};

const BASE: &[&str] = &["repo.url=https://github.com/acme/ml-config.git", "auditKey.existingSecret=tollgate-audit-key"];

fn sets<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    BASE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn helm_lint_passes_for_every_ci_values_file() {
    for values in CI_VALUES {
        let r = run(Command::new(tool("TOLLGATE_HELM")).args(["lint", ".", "--strict", "--values", values]).current_dir(chart()));
        assert_eq!(r.code, 0, "helm lint --values {values}: {}", r.both());
        assert!(r.stdout.contains("1 chart(s) linted, 0 chart(s) failed"), "{}", r.both());
    }
}

/// Bad values are refused by values.schema.json, with the schema's message naming the value.
#[test]
fn bad_values_fail_with_the_schemas_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["replicaCount=2"], "at '/replicaCount': maximum: got 2, want 1"),
        (&["database.type=postgresql"], "at '/database/existingSecret': minLength: got 0, want 1"),
        (&["auditKey.existingSecret="], "at '/auditKey/existingSecret': minLength: got 0, want 1"),
        (&["repo.auth.type=token"], "at '/repo/auth/existingSecret': minLength: got 0, want 1"),
        (&["gates.runner=k8s"], "at '/gates/runner': value must be one of 'inProcess', 'kubernetes'"),
        (
            &["gates.runner=kubernetes", "gates.kubernetes.sharedCacheClaim=c"],
            "at '/gates/kubernetes/trustedKey': minLength: got 0, want 1",
        ),
        (&["database.type=mysql"], "at '/database/type': value must be one of 'sqlite', 'postgresql'"),
        (&["tls.mode=existing"], "at '/tls/existingSecret': minLength: got 0, want 1"),
        (&["admission.timeoutSeconds=30"], "at '/admission/timeoutSeconds': maximum: got 30, want 10"),
        (&["image.digest=sha256:abc"], "at '/image/digest': 'sha256:abc' does not match pattern"),
        (&["repo.url=ftp://example.com/r.git"], "at '/repo/url': 'ftp://example.com/r.git' does not match pattern"),
        (&["replicas=2"], "additional properties 'replicas' not allowed"),
    ];
    for (extra, want) in cases {
        let r = helm_template(&[], &sets(extra));
        assert_ne!(r.code, 0, "{extra:?} rendered: {}", r.both());
        assert!(r.stderr.contains("values don't meet the specifications of the schema"), "{extra:?}: {}", r.both());
        assert!(r.stderr.contains(want), "{extra:?}: want `{want}` in {}", r.both());
    }
    // SQLite with more replicas is fine on PostgreSQL.
    let ok = helm_template(&[], &sets(&["replicaCount=2", "database.type=postgresql", "database.existingSecret=tollgate-db"]));
    assert_eq!(ok.code, 0, "{}", ok.both());
    // Without the values the chart cannot guess, helm refuses the defaults.
    let bare = helm_template(&[], &[]);
    assert!(bare.stderr.contains("at '/repo/url': minLength: got 0, want 1"), "{}", bare.both());
    assert!(bare.stderr.contains("at '/auditKey/existingSecret': minLength: got 0, want 1"), "{}", bare.both());
}

fn kinds_and_names(objs: &[Value]) -> BTreeSet<(String, String, String)> {
    objs.iter()
        .map(|o| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (s(&o["kind"]), s(&o["metadata"]["name"]), s(&o["metadata"]["namespace"]))
        })
        .collect()
}

#[test]
fn rendered_objects_are_the_expected_kinds_and_names() {
    let set = |items: &[(&str, &str, &str)]| -> BTreeSet<(String, String, String)> {
        items.iter().map(|(k, n, ns)| ((*k).to_owned(), (*n).to_owned(), (*ns).to_owned())).collect()
    };
    let ns = NAMESPACE;
    let sqlite = objects(&render(&["ci/sqlite-values.yaml"], &[]));
    assert_eq!(
        kinds_and_names(&sqlite),
        set(&[
            ("Certificate", "tollgate", ns),
            ("Certificate", "tollgate-ca", ns),
            ("Deployment", "tollgate", ns),
            ("Issuer", "tollgate-ca", ns),
            ("Issuer", "tollgate-selfsigned", ns),
            ("NetworkPolicy", "tollgate", ns),
            ("PersistentVolumeClaim", "tollgate-data", ns),
            ("PodDisruptionBudget", "tollgate", ns),
            ("Service", "tollgate", ns),
            ("ServiceAccount", "tollgate", ns),
            ("ValidatingWebhookConfiguration", "tollgate", ""),
        ])
    );
    let pg = objects(&render(&["ci/postgresql-values.yaml"], &[]));
    assert_eq!(
        kinds_and_names(&pg),
        set(&[
            ("Deployment", "tollgate", ns),
            ("NetworkPolicy", "tollgate", ns),
            ("PodDisruptionBudget", "tollgate", ns),
            ("Role", "tollgate-gates", ns),
            ("RoleBinding", "tollgate-gates", ns),
            ("Secret", "tollgate-tls", ns),
            ("Service", "tollgate", ns),
            ("ServiceAccount", "tollgate", ns),
            ("ServiceMonitor", "tollgate", ns),
            ("ValidatingWebhookConfiguration", "tollgate", ""),
        ])
    );
    // SQLite: one replica, stopped before its successor starts; PostgreSQL: rolling, spread.
    let d = find(&sqlite, "Deployment", "tollgate");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let d = find(&pg, "Deployment", "tollgate");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    assert_eq!(
        d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
            ["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(find(&pg, "PodDisruptionBudget", "tollgate")["spec"]["maxUnavailable"], 1);
}

/// The webhook configuration is docs/admission.md's, with this release's namespace.
#[test]
fn webhook_fails_closed_skips_system_namespaces_and_matches_the_docs() {
    let doc = std::fs::read_to_string(root().join("docs/admission.md")).expect("docs/admission.md");
    let start = doc.find("```yaml\napiVersion: admissionregistration.k8s.io/v1").expect("the documented configuration") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("end of block");
    let documented = objects(&doc[start..end]).remove(0);
    for values in CI_VALUES {
        let objs = objects(&render(&[values], &[]));
        let hook = &find(&objs, "ValidatingWebhookConfiguration", "tollgate")["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["timeoutSeconds"], 2);
        assert_eq!(hook["sideEffects"], "NoneOnDryRun");
        let mut want = documented["webhooks"][0].clone();
        let mut got = hook.clone();
        // The CA differs per install; the excluded namespaces per values.
        for w in [&mut want, &mut got] {
            w["clientConfig"].as_object_mut().expect("clientConfig").remove("caBundle");
        }
        let conditions = got["matchConditions"].as_array().expect("matchConditions").clone();
        let extra = conditions[2..].to_vec();
        got["matchConditions"] = Value::Array(conditions[..2].to_vec());
        assert_eq!(got, want, "{values}: the chart's webhook and docs/admission.md's differ");
        if *values == "ci/postgresql-values.yaml" {
            assert_eq!(extra, vec![json!({"name": "not-excluded-0", "expression": "request.namespace != 'monitoring'"})]);
        }
    }
}

/// A generated CA is the one the webhook trusts and the Secret tollgate serves from holds.
#[test]
fn generated_certificate_is_trusted_by_the_webhook() {
    let objs = objects(&render(&["ci/postgresql-values.yaml"], &[]));
    let secret = find(&objs, "Secret", "tollgate-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = secret["data"]["ca.crt"].as_str().expect("ca.crt");
    assert!(ca.len() > 500, "a PEM certificate, base64: {ca}");
    let hook = find(&objs, "ValidatingWebhookConfiguration", "tollgate");
    assert_eq!(hook["webhooks"][0]["clientConfig"]["caBundle"], ca);
    // With cert-manager, its CA injector fills caBundle instead.
    let objs = objects(&render(&["ci/sqlite-values.yaml"], &[]));
    let hook = find(&objs, "ValidatingWebhookConfiguration", "tollgate");
    assert_eq!(hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], "tollgate-system/tollgate");
    assert!(hook["webhooks"][0]["clientConfig"].get("caBundle").is_none());
    let cert = find(&objs, "Certificate", "tollgate");
    assert_eq!(cert["spec"]["secretName"], "tollgate-tls");
    assert_eq!(
        cert["spec"]["dnsNames"],
        json!(["tollgate", "tollgate.tollgate-system", "tollgate.tollgate-system.svc", "tollgate.tollgate-system.svc.cluster.local"])
    );
}

/// The restricted Pod Security Standard, a read-only root filesystem, probes on /healthz and
/// /readyz over HTTPS, and secrets only by reference.
#[test]
fn pods_meet_the_restricted_pod_security_standard() {
    for values in CI_VALUES {
        let objs = objects(&render(&[values], &[]));
        let pod = &find(&objs, "Deployment", "tollgate")["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{values}");
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{values}");
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod.get(key).is_none(), "{values}: {key}");
        }
        assert!(pod["volumes"].as_array().expect("volumes").iter().all(|v| v.get("hostPath").is_none()), "{values}");
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{values}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{values}");
        assert_eq!(sc["privileged"], false, "{values}");
        assert_eq!(sc["runAsNonRoot"], true, "{values}");
        assert_eq!(sc["runAsUser"], 65532, "{values}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{values}");
        assert!(sc["capabilities"].get("add").is_none(), "{values}");
        for (probe, path) in [("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{values}: {probe}");
            assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{values}: {probe}");
        }
        for r in ["requests", "limits"] {
            assert!(c["resources"][r]["cpu"].is_string() && c["resources"][r]["memory"].is_string(), "{values}: {r}");
        }
        // Every secret arrives by reference to an existing Secret: no env var carries a
        // literal that looks like one.
        for env in c["env"].as_array().expect("env") {
            let name = env["name"].as_str().expect("name");
            if ["TOLLGATE_GITHUB_WEBHOOK_SECRET", "GITHUB_APP_PRIVATE_KEY"].contains(&name)
                || (name == "TOLLGATE_DB" && *values == "ci/postgresql-values.yaml")
            {
                assert!(env.get("value").is_none() && env["valueFrom"]["secretKeyRef"]["name"].is_string(), "{values}: {env}");
            }
        }
    }
    let objs = objects(&render(&["ci/postgresql-values.yaml"], &[]));
    let c = &find(&objs, "Deployment", "tollgate")["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| c["env"].as_array().expect("env").iter().find(|e| e["name"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(env("TOLLGATE_DB")["valueFrom"]["secretKeyRef"], json!({"name": "tollgate-db", "key": "url"}));
    assert_eq!(
        env("TOLLGATE_GITHUB_WEBHOOK_SECRET")["valueFrom"]["secretKeyRef"],
        json!({"name": "tollgate-github", "key": "webhook-secret"})
    );
    assert_eq!(
        env("TOLLGATE_GITHUB_WEBHOOK_SECRET_PREVIOUS")["valueFrom"]["secretKeyRef"],
        json!({"name": "tollgate-github", "key": "webhook-secret-previous"})
    );
    assert_eq!(env("GITHUB_APP_PRIVATE_KEY")["valueFrom"]["secretKeyRef"], json!({"name": "tollgate-github", "key": "private-key.pem"}));
    assert_eq!(env("TOLLGATE_REPLICA")["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(env("TOLLGATE_AUDIT_KEY_FILE")["value"], "/etc/tollgate/audit/key");
    assert_eq!(env("TOLLGATE_SSH_KEY")["value"], "/etc/tollgate/git/ssh-key");
    assert_eq!(
        c["image"],
        "registry.example.invalid/tollgate:0.1.0-torch@sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    );
    assert_eq!(c["args"][0], "serve");
    assert!(c["args"].as_array().expect("args").contains(&json!("--reconcile")));
}

/// With `gates.runner: kubernetes`, the controller may run Jobs and read their pods' logs in its
/// namespace, and nothing else, is told the cluster and the key results are verified with, and
/// shares its cache with the Jobs; otherwise it has no API token at all.
#[test]
fn gate_runner_kubernetes_gets_a_role_in_its_namespace_only() {
    let objs = objects(&render(&["ci/postgresql-values.yaml"], &[]));
    let role = find(&objs, "Role", "tollgate-gates");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        ])
    );
    let binding = find(&objs, "RoleBinding", "tollgate-gates");
    assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": "tollgate", "namespace": "tollgate-system"}]));
    assert!(!objs.iter().any(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding"));
    let pod = &find(&objs, "Deployment", "tollgate")["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    // The controller's flags for the runner, and the cache it shares with the Jobs.
    let env = &pod["containers"][0]["env"];
    let var = |name: &str| env.as_array().expect("env").iter().find(|e| e["name"] == name).map(|e| e["value"].clone());
    assert_eq!(var("TOLLGATE_GATES_CLUSTER"), Some(json!("in-cluster")));
    assert_eq!(var("TOLLGATE_GATES_TRUSTED_KEY"), Some(json!("tollgate-gates+2f5a3b2f+Ab1RqaYaa36JcSNF5p4NF13QoYMtV5iVkiR/Js40WbWM")));
    let cache = pod["volumes"].as_array().expect("volumes").iter().find(|v| v["name"] == "cache").expect("cache volume");
    assert_eq!(cache["persistentVolumeClaim"]["claimName"], "tollgate-shared-cache");

    let objs = objects(&render(&["ci/sqlite-values.yaml"], &[]));
    assert!(!objs.iter().any(|o| o["kind"] == "Role" || o["kind"] == "RoleBinding"));
    let pod = &find(&objs, "Deployment", "tollgate")["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(!pod["containers"][0]["env"].as_array().expect("env").iter().any(|e| e["name"] == "TOLLGATE_GATES_CLUSTER"));
    assert_eq!(find(&objs, "ServiceAccount", "tollgate")["automountServiceAccountToken"], false);
}

/// Every built-in object validates against the Kubernetes OpenAPI schemas of the oldest
/// supported version (1.30, for matchConditions) and a current one, strictly (no unknown
/// fields); the CRDs' objects (cert-manager, Prometheus Operator) have no schema there.
#[test]
fn manifests_validate_against_the_kubernetes_openapi_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    for values in CI_VALUES {
        let file = dir.path().join(values.replace('/', "-"));
        std::fs::write(&file, render(&[values], &[])).expect("write");
        for version in ["1.30.0", "1.35.0"] {
            let r = run(Command::new(tool("TOLLGATE_KUBERNETES_VALIDATE")).args(["--strict", "-k", version]).arg(&file));
            assert_eq!(r.code, 0, "{values} on {version}: {}", r.both());
            let mut unvalidated: Vec<&str> = r
                .stdout
                .lines()
                .chain(r.stderr.lines())
                .filter(|l| l.contains("Couldn't find schema for kind"))
                .filter_map(|l| l.split("kind ").nth(1).and_then(|k| k.split(' ').next()))
                .collect();
            unvalidated.sort_unstable();
            unvalidated.dedup();
            let want: &[&str] = if *values == "ci/sqlite-values.yaml" { &["Certificate", "Issuer"] } else { &["ServiceMonitor"] };
            assert_eq!(unvalidated, want, "{values} on {version}: {}", r.both());
            let passed = r.stdout.lines().chain(r.stderr.lines()).filter(|l| l.contains(" passed for resource ")).count();
            let builtin = objects(&std::fs::read_to_string(&file).expect("read"))
                .iter()
                .filter(|o| !["Certificate", "Issuer", "ServiceMonitor"].contains(&o["kind"].as_str().unwrap_or("")))
                .count();
            assert_eq!(passed, builtin, "{values} on {version}: {}", r.both());
        }
    }
}

/// checkov fails nothing on the rendered chart that the chart's README does not justify, and
/// the README justifies nothing that no longer fails.
#[test]
fn checkov_fails_only_what_the_readme_justifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failed = BTreeSet::new();
    for values in CI_VALUES {
        let file = dir.path().join(values.replace('/', "-"));
        std::fs::write(&file, render(&[values], &[])).expect("write");
        for (id, resource) in checkov_failures(&["-f", file.to_str().expect("utf-8")], "kubernetes") {
            failed.insert(id.clone());
            assert_eq!(resource, "Deployment.tollgate-system.tollgate", "{values}: {id}");
        }
    }
    let justified: BTreeSet<String> = justified_checks(&chart().join("README.md")).into_iter().collect();
    assert_eq!(failed, justified, "failed checkov checks vs. those charts/tollgate/README.md justifies");
}

/// We hold ourselves to our own rules: `tollgate check` over tollgate's own rendered chart
/// (and the Terraform example's plan) finds nothing; an image not pinned by digest is refused
/// by the default library's `k8s-image-digest`.
#[test]
fn tollgate_check_passes_its_own_chart() {
    let sqlite = render(&["ci/sqlite-values.yaml"], &[]);
    let pg = render(&["ci/postgresql-values.yaml"], &[]);
    let plan = std::fs::read_to_string(root().join("terraform/examples/eks/plan.json")).expect("plan.json");
    let repo =
        config_repo(&[("k8s/sqlite.yaml", sqlite.as_str()), ("k8s/postgresql.yaml", pg.as_str()), ("infra/eks.plan.json", plan.as_str())]);
    let (r, report) = tollgate_check(repo.path());
    assert_eq!(r.code, 0, "{}", r.both());
    assert_eq!(report["findings"], json!([]), "{}", r.both());

    let unpinned = render(&[], BASE);
    let repo = config_repo(&[("k8s/unpinned.yaml", unpinned.as_str())]);
    let (r, report) = tollgate_check(repo.path());
    assert_eq!(r.code, 1, "{}", r.both());
    let ids: Vec<&str> = report["findings"].as_array().expect("findings").iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(ids, ["k8s-image-digest"], "{}", r.both());
}
