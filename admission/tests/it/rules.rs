//! The rule: pinned, promoted to this environment, the model its release names, the policies,
//! warn mode, dry runs, break glass, and failing closed.

use super::*;

#[test]
fn an_image_by_tag_is_refused_with_pin_by_digest() {
    let answer = check(
        &fixture("deployment-tag.json"),
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving:v7 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-pinned: image `ghcr.io/acme/churn-serving:v7` of container `server` is not pinned by digest
          hint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
        audit: admission.denied"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "2fd640fa-0280-5175-9243-39378500fcf4",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 403,
              "message": "image `ghcr.io/acme/churn-serving:v7` of container `server` is not pinned by digest\nhint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more",
              "reason": "Forbidden"
            }
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn an_unpromoted_digest_is_refused_naming_what_is_promoted() {
    let answer = check(
        &fixture("deployment-unpromoted.json"),
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        audit: admission.denied"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "3e4ad928-e303-5303-9d6c-44566c6535d0",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 403,
              "message": "image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more\nhint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)",
              "reason": "Forbidden"
            }
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn the_right_digest_in_the_wrong_namespace_is_refused() {
    // churn-v8 is promoted to staging only; its image is refused in prod's namespace.
    check(
        &fixture("deployment-wrong-namespace.json"),
        Mode::Enforce,
        expect![[r#"
        denied UPDATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:3e78a511da5a…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        audit: admission.denied"#]],
    );
    // The same Deployment in staging's namespace is admitted.
    let staging = edited("deployment-wrong-namespace.json", |v| v["request"]["namespace"] = "ml-staging".into());
    check(
        &staging,
        Mode::Enforce,
        expect![[r#"
        allowed UPDATE Deployment ml-staging/churn by system:serviceaccount:argocd:argocd-application-controller in staging (warn)
        image containers/server ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f -> ["churn-v8"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        audit: nothing"#]],
    );
}

#[test]
fn warn_mode_admits_with_warnings() {
    let answer = check(
        &fixture("deployment-unpromoted.json"),
        Mode::Warn,
        expect![[r#"
        warned CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (warn)
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        audit: admission.warned"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "3e4ad928-e303-5303-9d6c-44566c6535d0",
            "allowed": true,
            "status": {
              "status": "Success"
            },
            "warnings": [
              "tollgate: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more"
            ]
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn a_dry_run_is_answered_the_same_and_records_nothing() {
    let answer = check(
        &fixture("deployment-dry-run.json"),
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce) [dry run]
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        audit: nothing"#]],
    );
    assert!(!answer.review.response.as_ref().unwrap().allowed);
}

#[test]
fn a_privileged_container_is_refused_by_the_default_library() {
    let answer = check(
        &fixture("deployment-privileged.json"),
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny k8s-privileged: container `exporter` of Deployment `churn` runs privileged
          hint: remove `privileged: true`; grant the single capability needed, if any, under `securityContext.capabilities.add`
        audit: admission.denied"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "3bca7b5b-adfc-5306-af50-03205ef6f013",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 403,
              "message": "container `exporter` of Deployment `churn` runs privileged\nhint: remove `privileged: true`; grant the single capability needed, if any, under `securityContext.capabilities.add`",
              "reason": "Forbidden"
            }
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn a_disabled_policy_does_not_refuse() {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    for (release, image) in [("churn-v7", CHURN_V7), ("model-proxy-3", PROXY), ("metrics-exporter-1", EXPORTER)] {
        b.promoted("prod", Promoted { release, image, model_sha256: None, model_uri: None }).unwrap();
    }
    let bundle = Bundle::compile(&[], true).unwrap();
    b.policies(Policies::new(bundle, ["k8s-privileged"]));
    let answer = answer(Some(b.build()), &fixture("deployment-privileged.json"));
    expect![[r#"
        allowed CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        audit: nothing"#]].assert_eq(&summary(answer.verdict.as_ref().unwrap()));
}

#[test]
fn an_ephemeral_debug_container_by_tag_is_refused() {
    check(
        &fixture("pod-ephemeral-debug.json"),
        Mode::Enforce,
        expect![[r#"
        denied UPDATE Pod ml-prod/churn-6d9f7c8b5d-x7k2p by bob@acme.example in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image initContainers/fetch-model ghcr.io/acme/model-fetch@sha256:7814bc8ec2cd09fc691332d3978d8ac0c8fd00bdcd64c338a3dbb68516787083 -> ["model-fetch-2"]
        image ephemeralContainers/debugger-8xq2c busybox:1.36 -> []
        deny image-not-pinned: image `busybox:1.36` of ephemeral container `debugger-8xq2c` is not pinned by digest
          hint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
        audit: admission.denied"#]],
    );
}

#[test]
fn a_model_served_by_another_image_than_its_release_names_is_refused() {
    let body = edited("deployment.json", |v| {
        v["request"]["object"]["spec"]["template"]["metadata"]["annotations"]["tollgate.dev/model-digest"] =
            format!("sha256:{FRAUD_MODEL}").into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        model annotation sha256:774fc4bd47e5a29b5750b84321a58c23d8b1572655fd70ac652f7673619d8405 -> ["fraud-v3"]
        deny model-image-mismatch: model `sha256:774fc4bd47e5` (annotation `tollgate.dev/model-digest`) is promoted to `prod` by `fraud-v3` (`ghcr.io/acme/fraud-serving@sha256:ac511d47ee0f…`), with another serving image than this workload's
          hint: serve the model with the image its release names, or promote a release that pairs this model with this image
        audit: admission.denied"#]],
    );
}

#[test]
fn an_unpromoted_model_digest_is_refused() {
    let body = edited("deployment.json", |v| {
        v["request"]["object"]["spec"]["template"]["metadata"]["annotations"]["tollgate.dev/model-digest"] = CHURN_MODEL_V8.into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        model annotation 38d9fcc201480caa7dac615d03760d2d9a749434aec9b2a8325fd6032cbd7454 -> []
        deny model-not-promoted: model `sha256:38d9fcc20148` (annotation `tollgate.dev/model-digest`) is not the model of a release promoted to `prod`; promoted there: `churn-v7` (`sha256:9f576839c240…`) and `fraud-v3` (`sha256:774fc4bd47e5…`)
          hint: deploy the model of a release promoted to `prod`, or get this one promoted with a Release
        audit: admission.denied"#]],
    );
}

#[test]
fn break_glass_by_an_on_call_sre_admits_with_a_warning_and_an_expiry() {
    let answer = check(
        &fixture("deployment-break-glass.json"),
        Mode::Enforce,
        expect![[r#"
        warned UPDATE Deployment ml-prod/churn by alice@acme.example in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        break glass by alice@acme.example until 2026-12-05T14:00:00Z (inherited: false): INC-4711: v7 leaks memory under load, hotfix build
        audit: admission.break_glass"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "b5b87886-20d1-58a6-a5b6-ef77320816fa",
            "allowed": true,
            "status": {
              "status": "Success"
            },
            "auditAnnotations": {
              "break-glass": "INC-4711: v7 leaks memory under load, hotfix build (alice@acme.example) until 2026-12-05T14:00:00Z"
            },
            "warnings": [
              "tollgate: admitted by break glass, asked by `alice@acme.example` for `INC-4711: v7 leaks memory under load, hotfix build`; recorded, expires 2026-12-05T14:00:00Z",
              "tollgate: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more"
            ]
          }
        }"#]].assert_eq(&response_json(&answer));
    // The audit event's payload.
    expect![[r#"
        {
          "outcome": "warned",
          "uid": "b5b87886-20d1-58a6-a5b6-ef77320816fa",
          "operation": "UPDATE",
          "group": "apps",
          "version": "v1",
          "kind": "Deployment",
          "namespace": "ml-prod",
          "name": "churn",
          "user": "alice@acme.example",
          "groups": [
            "acme:ml-platform",
            "acme:sre-oncall",
            "system:authenticated"
          ],
          "dryRun": false,
          "environment": "prod",
          "mode": "enforce",
          "reasons": [
            {
              "id": "image-not-promoted",
              "severity": "deny",
              "message": "image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more",
              "hint": "deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)"
            }
          ],
          "images": [
            {
              "field": "containers",
              "name": "server",
              "image": "ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42",
              "digest": "sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42",
              "releases": []
            },
            {
              "field": "containers",
              "name": "proxy",
              "image": "ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e",
              "digest": "sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e",
              "releases": [
                "model-proxy-3"
              ]
            },
            {
              "field": "containers",
              "name": "exporter",
              "image": "ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412",
              "digest": "sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412",
              "releases": [
                "metrics-exporter-1"
              ]
            }
          ],
          "models": [],
          "breakGlass": {
            "reason": "INC-4711: v7 leaks memory under load, hotfix build",
            "user": "alice@acme.example",
            "expires": "2026-12-05T14:00:00Z",
            "inherited": false
          },
          "index": "config@4f1c2e9",
          "policyDigest": "97e0153930153af1cbd4d4113d4ed4503fcb0a2a86a8e7768d993c3b635938e9",
          "decidedAt": "2026-12-05T10:00:00Z"
        }"#]].assert_eq(&serde_json::to_string_pretty(answer.verdict.as_ref().unwrap()).unwrap());
}

#[test]
fn break_glass_by_anyone_else_is_refused_naming_who_may() {
    let body = edited("deployment-break-glass.json", |v| {
        v["request"]["userInfo"]["groups"] = serde_json::json!(["acme:ml-platform", "system:authenticated"]);
    });
    let answer = check(
        &body,
        Mode::Enforce,
        expect![[r#"
        denied UPDATE Deployment ml-prod/churn by alice@acme.example in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        deny break-glass-refused: `alice@acme.example` may not break glass (annotation `tollgate.dev/break-glass`): in `prod` only users `carol@acme.example` and members of `acme:sre-oncall` may
          hint: remove the annotation and deploy what is promoted, or ask someone who may break glass
        audit: admission.denied"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "b5b87886-20d1-58a6-a5b6-ef77320816fa",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 403,
              "message": "image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more\n`alice@acme.example` may not break glass (annotation `tollgate.dev/break-glass`): in `prod` only users `carol@acme.example` and members of `acme:sre-oncall` may\nhint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)\nhint: remove the annotation and deploy what is promoted, or ask someone who may break glass",
              "reason": "Forbidden"
            }
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn break_glass_where_nobody_may() {
    let body = edited("deployment-break-glass.json", |v| v["request"]["namespace"] = "ml-staging".into());
    // Staging warns: the refusal is a warning there too.
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        warned UPDATE Deployment ml-staging/churn by alice@acme.example in staging (warn)
        image containers/server ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42 -> []
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:28c81dbda271…` of container `server` is not promoted to `staging`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `churn-v8` (`sha256:3e78a511da5a…`), `metrics-exporter-1` (`sha256:3c2b79434597…`) and 1 more
          hint: deploy the serving image of a release promoted to `staging`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:28c81dbda271d1cf42191cd42040c19441557d64f97feb06cba2ab9dcb5dfa42`, and tollgate promotes it to `staging` once its gates and approvals pass (`tollgate explain RELEASE --env staging` says what it waits for)
        deny break-glass-refused: `alice@acme.example` may not break glass (annotation `tollgate.dev/break-glass`): nobody may break glass in `staging`
          hint: remove the annotation and deploy what is promoted, or ask someone who may break glass
        audit: admission.warned"#]],
    );
}

#[test]
fn a_workload_controller_carries_its_parents_break_glass_down() {
    let body = edited("replicaset.json", |v| {
        let template = &mut v["request"]["object"]["spec"]["template"];
        template["metadata"]["annotations"] = serde_json::json!({"tollgate.dev/break-glass": "INC-4711: hotfix build"});
        template["spec"]["containers"][0]["image"] = "ghcr.io/acme/churn-serving:hotfix".into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        warned CREATE ReplicaSet ml-prod/churn-6d9f7c8b5d by system:serviceaccount:kube-system:deployment-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving:hotfix -> []
        deny image-not-pinned: image `ghcr.io/acme/churn-serving:hotfix` of container `server` is not pinned by digest
          hint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
        break glass by system:serviceaccount:kube-system:deployment-controller until 2026-12-05T14:00:00Z (inherited: true): INC-4711: hotfix build
        audit: admission.break_glass"#]],
    );
}

#[test]
fn before_the_index_is_loaded_everything_is_refused() {
    for name in ["deployment.json", "service.json"] {
        let answer = answer(None, &fixture(name));
        let verdict = answer.verdict.as_ref().unwrap();
        assert_eq!(verdict.outcome, Outcome::Denied, "{name}");
    }
    let answer = answer(None, &fixture("deployment.json"));
    expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in -
        deny index-not-loaded: tollgate has not loaded what is promoted where yet, and refuses every workload until it has
          hint: retry in a moment; if this lasts, see the tollgate server's logs and `/readyz`
        audit: admission.denied"#]]
    .assert_eq(&summary(answer.verdict.as_ref().unwrap()));
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "9a5c4804-bcfa-519d-a202-acd26c7d2489",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 403,
              "message": "tollgate has not loaded what is promoted where yet, and refuses every workload until it has\nhint: retry in a moment; if this lasts, see the tollgate server's logs and `/readyz`",
              "reason": "Forbidden"
            }
          }
        }"#]].assert_eq(&response_json(&answer));
}

#[test]
fn delete_is_not_judged() {
    let body = edited("deployment-unpromoted.json", |v| {
        v["request"]["operation"] = "DELETE".into();
        v["request"]["oldObject"] = v["request"]["object"].take();
        v["request"]["options"] = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"});
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        allowed DELETE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in -
        note: only CREATE and UPDATE are judged
        audit: nothing"#]],
    );
}

#[test]
fn an_update_of_an_object_being_deleted_is_admitted() {
    // Removing the finalizers of a Deployment whose image is no longer promoted must not hang.
    let body = edited("deployment-unpromoted.json", |v| {
        v["request"]["operation"] = "UPDATE".into();
        v["request"]["object"]["metadata"]["deletionTimestamp"] = "2026-12-05T09:59:00Z".into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        allowed UPDATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        note: the object is being deleted
        audit: nothing"#]],
    );
}

#[test]
fn a_namespace_of_no_environment_is_not_ours() {
    let body = edited("deployment-unpromoted.json", |v| v["request"]["namespace"] = "team-sandbox".into());
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        allowed CREATE Deployment team-sandbox/churn by system:serviceaccount:argocd:argocd-application-controller in -
        note: namespace `team-sandbox` belongs to no environment
        audit: nothing"#]],
    );
}

#[test]
fn a_status_update_is_not_judged() {
    let body = edited("deployment-unpromoted.json", |v| {
        v["request"]["operation"] = "UPDATE".into();
        v["request"]["subResource"] = "status".into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        allowed UPDATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        note: subresource `status` is not judged
        audit: nothing"#]],
    );
}

#[test]
fn a_new_index_replaces_the_old_one_for_the_next_review() {
    let admitter = Admitter::new();
    let body = fixture("deployment-wrong-namespace.json");
    assert!(admitter.index().is_none());
    assert_eq!(admitter.review(&body, now()).verdict.unwrap().outcome, Outcome::Denied);
    admitter.publish(index(Mode::Enforce));
    assert_eq!(admitter.review(&body, now()).verdict.unwrap().outcome, Outcome::Denied);
    // churn-v8 reaches prod.
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    for (release, image) in [("churn-v8", CHURN_V8), ("model-proxy-3", PROXY), ("metrics-exporter-1", EXPORTER)] {
        b.promoted("prod", Promoted { release, image, model_sha256: None, model_uri: None }).unwrap();
    }
    let old = admitter.publish(b.build()).expect("the index it replaced");
    assert_eq!(old.promoted_count("prod"), 6);
    assert_eq!(admitter.review(&body, now()).verdict.unwrap().outcome, Outcome::Allowed);
}

#[test]
fn a_pod_template_that_does_not_read_as_kubernetes_type_is_refused() {
    // The API server validated the object, so this is a forged review or a version skew.
    let body = edited("deployment.json", |v| {
        v["request"]["object"]["spec"]["template"]["spec"]["containers"] = "server".into();
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        deny unreadable-workload: cannot read the pod spec of Deployment `churn`: invalid type: string "server", expected a sequence
        audit: admission.denied"#]],
    );
}

/// A mesh's proxy injected beside the serving container is the platform's
/// (`spec.admission.platformImages`): admitted by digest without a release, any digest of a
/// listed repository or the one digest listed; by tag it is refused like any image, and a
/// workload of the platform's images alone is refused (a listed image is not a way around the
/// rule).
#[test]
fn the_platforms_images_are_admitted_beside_a_release_never_alone() {
    let sidecar = |image: &str| {
        let image = image.to_owned();
        edited("deployment.json", move |v| {
            let containers = v.pointer_mut("/request/object/spec/template/spec/containers").and_then(Value::as_array_mut).unwrap();
            containers.truncate(1);
            containers.push(serde_json::json!({
                "name": "istio-proxy",
                "image": image,
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
            }));
        })
    };
    let proxy = format!("docker.io/istio/proxyv2@sha256:{}", "a1".repeat(32));
    check(
        &sidecar(&proxy),
        Mode::Enforce,
        expect![[r#"
            allowed CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
            image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
            image containers/istio-proxy docker.io/istio/proxyv2@sha256:a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 -> [] (platform)
            model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
            audit: nothing"#]],
    );
    check(
        &sidecar("docker.io/istio/proxyv2:1.24.0"),
        Mode::Enforce,
        expect![[r#"
            denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
            image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
            image containers/istio-proxy docker.io/istio/proxyv2:1.24.0 -> []
            model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
            deny image-not-pinned: image `docker.io/istio/proxyv2:1.24.0` of container `istio-proxy` is not pinned by digest
              hint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
            audit: admission.denied"#]],
    );
    let alone = edited("deployment.json", |v| {
        let containers = v.pointer_mut("/request/object/spec/template/spec/containers").and_then(Value::as_array_mut).unwrap();
        containers.truncate(1);
        containers[0]["image"] = format!("gcr.io/kserve/storage-initializer@sha256:{}", "5e".repeat(32)).into();
        v["request"]["object"]["spec"]["template"]["metadata"]["annotations"] = serde_json::json!({});
    });
    check(
        &alone,
        Mode::Enforce,
        expect![[r#"
        denied CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server gcr.io/kserve/storage-initializer@sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e -> [] (platform)
        deny platform-images-alone: Deployment `churn` runs only the platform's images (`spec.admission.platformImages` of `prod`), and no promoted release
          hint: platform images are admitted beside the serving image of a release promoted to `prod`
        audit: admission.denied"#]],
    );
}
