//! One review per workload kind: every image and model reference is found, and promoted ones
//! are admitted.

use super::*;

#[test]
fn a_pod_with_init_and_ephemeral_containers_of_a_replicaset() {
    check(
        &fixture("pod.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE Pod ml-prod/churn-6d9f7c8b5d-* by system:serviceaccount:kube-system:replicaset-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image initContainers/fetch-model ghcr.io/acme/model-fetch@sha256:7814bc8ec2cd09fc691332d3978d8ac0c8fd00bdcd64c338a3dbb68516787083 -> ["model-fetch-2"]
        image ephemeralContainers/debugger ghcr.io/acme/debug-tools@sha256:86da06f37a60b78dc2ab81fba05393468b38067a2540d4b43ddbfa08adbd99ad -> ["debug-tools-5"]
        model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
        audit: nothing"#]],
    );
}

#[test]
fn a_deployment_of_three_promoted_containers() {
    let answer = check(
        &fixture("deployment.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE Deployment ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        image containers/proxy ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
        audit: nothing"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "9a5c4804-bcfa-519d-a202-acd26c7d2489",
            "allowed": true,
            "status": {
              "status": "Success"
            }
          }
        }"#]]
    .assert_eq(&response_json(&answer));
}

#[test]
fn a_statefulset() {
    check(
        &fixture("statefulset.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE StatefulSet ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        audit: nothing"#]],
    );
}

#[test]
fn a_daemonset() {
    check(
        &fixture("daemonset.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE DaemonSet ml-prod/metrics by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/exporter ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412 -> ["metrics-exporter-1"]
        audit: nothing"#]],
    );
}

#[test]
fn a_replicaset_of_a_deployment() {
    check(
        &fixture("replicaset.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE ReplicaSet ml-prod/churn-6d9f7c8b5d by system:serviceaccount:kube-system:deployment-controller in prod (enforce)
        image containers/server ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        audit: nothing"#]],
    );
}

#[test]
fn a_job() {
    check(
        &fixture("job.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE Job ml-prod/churn-backfill by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/batch-score ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        audit: nothing"#]],
    );
}

#[test]
fn a_cronjob_reads_its_job_template() {
    check(
        &fixture("cronjob.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE CronJob ml-prod/churn-nightly by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image containers/batch-score ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c -> ["churn-v7"]
        model annotation 9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
        audit: nothing"#]],
    );
}

#[test]
fn an_inference_service_by_storage_uri_and_model_digest() {
    check(
        &fixture("inferenceservice.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE InferenceService ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
        model predictor.model.storageUri s3://acme-models/churn/v7/ -> ["churn-v7"]
        runtime kserve-torchserve
        audit: nothing"#]],
    );
}

#[test]
fn an_inference_service_of_the_older_framework_shape() {
    check(
        &fixture("inferenceservice-legacy.json"),
        Mode::Enforce,
        expect![[r#"
        denied CREATE InferenceService ml-prod/fraud by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image transformer.containers/kserve-container ghcr.io/acme/fraud-features:latest -> []
        model predictor.sklearn.storageUri gs://acme-models/fraud/v4 -> []
        deny image-not-pinned: image `ghcr.io/acme/fraud-features:latest` of container `kserve-container` of the transformer is not pinned by digest
          hint: pin images by digest, `registry/repo@sha256:<digest>`; promoted to `prod`: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
        deny model-not-promoted: model `gs://acme-models/fraud/v4` (`predictor.sklearn.storageUri`) is not the model of a release promoted to `prod`; promoted there: `churn-v7` (`sha256:9f576839c240…`) and `fraud-v3` (`sha256:774fc4bd47e5…`)
          hint: deploy the model of a release promoted to `prod`, or get this one promoted with a Release
        audit: admission.denied"#]],
    );
}

#[test]
fn an_inference_service_with_its_own_predictor_container() {
    let body = edited("inferenceservice.json", |v| {
        let predictor = &mut v["request"]["object"]["spec"]["predictor"];
        predictor["model"]["image"] = CHURN_V8.into();
        predictor["containers"] = serde_json::json!([{"name": "sidecar", "image": PROXY}]);
    });
    check(
        &body,
        Mode::Enforce,
        expect![[r#"
        denied CREATE InferenceService ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        image predictor.containers/sidecar ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e -> ["model-proxy-3"]
        image predictor.model/model ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f -> []
        model annotation sha256:9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8 -> ["churn-v7"]
        model predictor.model.storageUri s3://acme-models/churn/v7/ -> ["churn-v7"]
        runtime kserve-torchserve
        deny image-not-promoted: image `ghcr.io/acme/churn-serving@sha256:3e78a511da5a…` of `predictor.model` is not promoted to `prod`; promoted there: `churn-v7` (`sha256:c058e3189f84…`), `debug-tools-5` (`sha256:86da06f37a60…`), `fraud-v3` (`sha256:ac511d47ee0f…`) and 3 more
          hint: deploy the serving image of a release promoted to `prod`, or get this image promoted: open a pull request adding a Release with `spec.serving.image: ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f`, and tollgate promotes it to `prod` once its gates and approvals pass (`tollgate explain RELEASE --env prod` says what it waits for)
        deny model-image-mismatch: model `sha256:9f576839c240` (annotation `tollgate.dev/model-digest`) is promoted to `prod` by `churn-v7` (`ghcr.io/acme/churn-serving@sha256:c058e3189f84…`), with another serving image than this workload's
          hint: serve the model with the image its release names, or promote a release that pairs this model with this image
        deny model-image-mismatch: model `s3://acme-models/churn/v7/` (`predictor.model.storageUri`) is promoted to `prod` by `churn-v7` (`ghcr.io/acme/churn-serving@sha256:c058e3189f84…`), with another serving image than this workload's
          hint: serve the model with the image its release names, or promote a release that pairs this model with this image
        audit: admission.denied"#]],
    );
}

#[test]
fn an_unknown_kind_is_not_ours_and_says_so() {
    let answer = check(
        &fixture("service.json"),
        Mode::Enforce,
        expect![[r#"
        allowed CREATE Service ml-prod/churn by system:serviceaccount:argocd:argocd-application-controller in prod (enforce)
        note: `v1/Service` is not a workload kind tollgate judges
        audit: nothing"#]],
    );
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "b91d8e79-166a-5175-be2f-14d928fce488",
            "allowed": true,
            "status": {
              "status": "Success",
              "message": "`v1/Service` is not a workload kind tollgate judges"
            }
          }
        }"#]]
    .assert_eq(&response_json(&answer));
}
