package tollgate.lib.promotion

sha := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

good := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Promotion",
	"metadata": {"name": "income"},
	"spec": {
		"environment": "prod",
		"release": "income-v2",
		"model": {"name": "income", "version": "2", "sha256": sha},
		"image": sprintf("ghcr.io/acme/income-serving@sha256:%s", [sha]),
		"approvals": [{"user": "alice"}, {"user": "carol"}],
		"decision": "d-0001",
	},
	"context": {"environment": {"metadata": {"name": "prod"}, "spec": {"approvals": {"required": 2}}}},
}

ids(results) := {r.id | some r in results}

test_good_promotion_passes if {
	count(deny) == 0 with input as good
	count(deny) == 0 with input as object.remove(good, ["context"])
}

test_promotion_without_image_passes if {
	count(deny) == 0 with input as json.remove(good, ["spec/image"])
}

test_tagged_image_is_denied if {
	results := deny with input as object.union(good, {"spec": {"image": "ghcr.io/acme/income-serving:2"}})
	count(results) == 1
	some r in results
	r.id == "promotion-image-digest"
	r.path == "/spec/image"
}

test_missing_model_digest_is_denied if {
	results := deny with input as json.remove(good, ["spec/model/sha256"])
	count(results) == 1
	some r in results
	r.id == "promotion-model-sha256"
	r.path == "/spec/model"
}

test_too_few_approvals_are_denied if {
	doc := object.union(good, {"spec": {"approvals": [{"user": "alice"}, {"user": "alice"}]}})
	results := deny with input as doc
	count(results) == 1
	some r in results
	r.id == "promotion-approvals"
	r.msg == "promotion `income` records 1 distinct approvers, but environment `prod` requires 2"
	r.path == "/spec/approvals"
}

test_missing_approvals_are_denied if {
	some r in deny with input as json.remove(good, ["spec/approvals"])
	r.id == "promotion-approvals"
	r.path == "/spec"
}

test_approvals_of_another_environment_are_not_compared if {
	doc := object.union(good, {"context": {"environment": {"metadata": {"name": "staging"}}}, "spec": {"approvals": []}})
	count(deny) == 0 with input as doc
}

test_null_environment_context_passes if {
	count(deny) == 0 with input as object.union(good, {"context": {"environment": null}})
}

test_malformed_approvals_do_not_fail if {
	doc := object.union(good, {"spec": {"approvals": [null, "alice", {"user": "bob"}]}})
	ids(deny) == {"promotion-approvals"} with input as doc
}
