package tollgate.lib.release

digest := "sha256:3b5e8f2a9c1d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"

good := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Release",
	"metadata": {"name": "income-v2"},
	"spec": {
		"model": {"name": "income", "version": "2"},
		"environment": "prod",
		"serving": {
			"image": sprintf("ghcr.io/acme/income-serving@%s", [digest]),
			"replicas": 2,
			"resources": {
				"requests": {"cpu": "500m", "memory": "1Gi"},
				"limits": {"cpu": "2", "memory": "2Gi"},
			},
			"securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false},
		},
		"gates": {
			"evaluation": "adult-eval",
			"quality": [{"metric": "roc_auc", "min": 0.85}],
			"fairness": [{"metric": "demographic_parity_ratio", "min": 0.8, "sensitiveFeatures": ["sex"]}],
		},
	},
	"context": {
		"file": "releases/income-v2.yaml",
		"commit": "0123456789abcdef0123456789abcdef01234567",
		"changedFiles": ["releases/income-v2.yaml"],
		"author": {"name": "alice", "email": "alice@example.com"},
		"config": {"environments": ["dev", "staging", "prod"]},
		"model": {"kind": "Model", "metadata": {"name": "income"}, "spec": {"task": "binaryClassification"}},
		"modelVersion": {"version": "2"},
		"environment": {"kind": "Environment", "metadata": {"name": "prod"}, "spec": {}},
		"environments": [],
		"datasets": {"adult-eval": {"kind": "Dataset", "metadata": {"name": "adult-eval"}, "spec": {"sensitiveFeatures": ["sex", "race"]}}},
	},
}

ids(results) := {r.id | some r in results}

with_serving(fields) := object.union(good, {"spec": {"serving": fields}})

with_image(image) := with_serving({"image": image})

without(path) := json.remove(good, [path])

test_good_release_passes if {
	count(deny) == 0 with input as good
	count(warn) == 0 with input as good
}

test_without_context_passes if {
	count(deny) == 0 with input as without("context")
	count(warn) == 0 with input as without("context")
}

test_null_context_fields_pass if {
	doc := object.union(good, {"context": {"model": null, "datasets": null, "environment": null, "config": null, "author": null}})
	count(deny) == 0 with input as doc
	count(warn) == 0 with input as doc
}

test_image_with_tag_only_is_denied if {
	results := deny with input as with_image("ghcr.io/acme/income-serving:1.4.2")
	count(results) == 1
	some r in results
	r.id == "release-image-digest"
	r.path == "/spec/serving/image"
	r.msg == "serving image `ghcr.io/acme/income-serving:1.4.2` of release `income-v2` is pinned by tag only; tags can be moved to other content"
}

test_latest_image_is_denied if {
	some r in deny with input as with_image("ghcr.io/acme/income-serving:latest")
	r.id == "release-image-digest"
	contains(r.msg, "mutable `latest` tag")
}

test_untagged_image_is_denied if {
	some r in deny with input as with_image("income-serving")
	r.id == "release-image-digest"
	contains(r.msg, "has no tag or digest")
}

test_registry_port_is_not_a_tag if {
	some r in deny with input as with_image("registry.local:5000/acme/income")
	contains(r.msg, "has no tag or digest")
}

test_bad_digests_are_denied if {
	every image in [
		"ghcr.io/acme/income@sha256:abc",
		"ghcr.io/acme/income@sha256:3B5E8F2A9C1D4E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0F",
		"ghcr.io/acme/income@sha512:3b5e8f2a9c1d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
		"@sha256:3b5e8f2a9c1d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
		"ghcr.io/acme/income@sha256:3b5e8f2a9c1d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f0",
	] {
		some r in deny with input as with_image(image)
		r.id == "release-image-digest"
		contains(r.msg, "malformed digest")
	}
}

test_tag_and_digest_passes if {
	count(deny) == 0 with input as with_image(sprintf("ghcr.io/acme/income-serving:1.4.2@%s", [digest]))
}

test_registry_with_port_and_digest_passes if {
	count(deny) == 0 with input as with_image(sprintf("registry.local:5000/acme/income@%s", [digest]))
}

test_missing_resources_are_denied if {
	results := deny with input as without("spec/serving/resources")
	count(results) == 1
	some r in results
	r.id == "release-serving-resources"
	r.path == "/spec/serving"
	r.msg == "release `income-v2` does not set serving `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory`"
}

test_missing_limits_are_denied if {
	some r in deny with input as without("spec/serving/resources/limits")
	r.id == "release-serving-resources"
	r.path == "/spec/serving/resources"
	r.msg == "release `income-v2` does not set serving `limits.cpu`, `limits.memory`"
}

test_missing_memory_request_is_denied if {
	some r in deny with input as without("spec/serving/resources/requests/memory")
	r.id == "release-serving-resources"
	r.msg == "release `income-v2` does not set serving `requests.memory`"
}

test_gpu_limits_alongside_cpu_and_memory_pass if {
	doc := with_serving({"resources": {"limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1}}})
	count(deny) == 0 with input as doc
}

test_privileged_serving_is_denied if {
	results := deny with input as with_serving({"securityContext": {"privileged": true}})
	count(results) == 1
	some r in results
	r.id == "release-serving-privileged"
	r.path == "/spec/serving/securityContext/privileged"
}

test_privileged_false_passes if {
	count(deny) == 0 with input as with_serving({"securityContext": {"privileged": false}})
}

test_missing_gates_warns if {
	doc := without("spec/gates")
	results := warn with input as doc
	count(results) == 1
	some r in results
	r.id == "release-gates-evaluation"
	r.path == "/spec"
	count(deny) == 0 with input as doc
}

test_gates_without_evaluation_warn if {
	some r in warn with input as without("spec/gates/evaluation")
	r.id == "release-gates-evaluation"
	r.path == "/spec/gates"
}

test_classifier_without_fairness_warns if {
	doc := without("spec/gates/fairness")
	results := warn with input as doc
	count(results) == 1
	some r in results
	r.id == "release-fairness-thresholds"
	r.path == "/spec/gates"
	r.msg == "release `income-v2` evaluates a classifier on `adult-eval`, which has sensitive features `sex`, `race`, but sets no fairness threshold"
}

test_empty_fairness_list_warns if {
	ids(warn) == {"release-fairness-thresholds"} with input as object.union(good, {"spec": {"gates": {"fairness": []}}})
}

test_multiclass_without_fairness_warns if {
	doc := object.union(without("spec/gates/fairness"), {"context": {"model": {"spec": {"task": "multiclassClassification"}}}})
	ids(warn) == {"release-fairness-thresholds"} with input as doc
}

test_fairness_metric_among_quality_counts if {
	doc := object.union(without("spec/gates/fairness"), {"spec": {"gates": {"quality": [
		{"metric": "roc_auc", "min": 0.85},
		{"metric": "equalized_odds_difference", "max": 0.1, "sensitiveFeatures": ["race"]},
	]}}})
	count(warn) == 0 with input as doc
}

test_regression_without_fairness_passes if {
	doc := object.union(without("spec/gates/fairness"), {"context": {"model": {"spec": {"task": "regression"}}}})
	count(warn) == 0 with input as doc
}

test_dataset_without_sensitive_features_passes if {
	doc := object.union(without("spec/gates/fairness"), {"context": {"datasets": {"adult-eval": {"spec": {"sensitiveFeatures": []}}}}})
	count(warn) == 0 with input as doc
}

test_unknown_evaluation_dataset_does_not_warn_about_fairness if {
	doc := json.remove(good, ["spec/gates/fairness", "context/datasets"])
	count(warn) == 0 with input as doc
}

test_missing_model_context_does_not_warn_about_fairness if {
	count(warn) == 0 with input as without("spec/gates/fairness") with input.context as {}
}

test_malformed_serving_and_gates_do_not_fail if {
	doc := object.union(good, {"spec": {"serving": {"resources": "x", "securityContext": "x"}, "gates": {"quality": "x", "fairness": "x"}}})
	ids(deny) == {"release-serving-resources"} with input as doc
}
