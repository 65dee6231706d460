package tollgate.lib.model

sha := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

good := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Model",
	"metadata": {"name": "income"},
	"spec": {
		"task": "binaryClassification",
		"owner": "ml-platform",
		"card": {
			"intendedUse": "Rank applications for manual review.",
			"limitations": "Trained on 1994 census data.",
			"trainingData": {"dataset": "adult-train"},
		},
		"versions": [
			{"version": "1", "artifact": {"uri": "models/income-v1.pt", "sha256": sha, "format": "torchscript"}},
			{"version": "2", "artifact": {"uri": "s3://models/income/v2.pt", "sha256": sha, "format": "torchscript"}},
		],
	},
	"context": {"file": "models/income.yaml", "commit": null, "changedFiles": [], "author": null},
}

ids(results) := {r.id | some r in results}

# json.patch needs regorus's `jsonpatch` feature, which tollgate does not build; object.union
# replaces whole values (lists included) and json.remove drops object keys.
with_card(card) := object.union(json.remove(good, ["spec/card"]), {"spec": {"card": card}})

ver(v, artifact) := {"version": v, "artifact": artifact}

art(uri) := {"uri": uri, "sha256": sha, "format": "torchscript"}

with_versions(vs) := object.union(good, {"spec": {"versions": vs}})

with_uri(uri) := with_versions([ver("1", art(uri))])

test_good_model_passes if {
	count(deny) == 0 with input as good
	count(warn) == 0 with input as good
}

test_good_model_without_context_passes if {
	count(deny) == 0 with input as object.remove(good, ["context"])
}

test_missing_card_denies_all_three_fields_at_spec if {
	doc := json.remove(good, ["spec/card"])
	results := deny with input as doc
	ids(results) == {"model-card-intended-use", "model-card-limitations", "model-card-training-data"}
	every r in results {
		r.path == "/spec"
	}
}

test_missing_intended_use_points_at_card if {
	results := deny with input as with_card({"limitations": "x", "trainingData": {"description": "census"}})
	count(results) == 1
	some r in results
	r.id == "model-card-intended-use"
	r.path == "/spec/card"
	r.msg == "model `income` has no intended use in its model card"
	contains(r.hint, "spec.card.intendedUse")
}

test_blank_limitations_points_at_field if {
	results := deny with input as with_card({"intendedUse": "x", "limitations": "   ", "trainingData": {"dataset": "d"}})
	count(results) == 1
	some r in results
	r.id == "model-card-limitations"
	r.path == "/spec/card/limitations"
}

test_non_string_card_field_is_denied if {
	results := deny with input as with_card({"intendedUse": ["x"], "limitations": "x", "trainingData": {"dataset": "d"}})
	ids(results) == {"model-card-intended-use"}
}

test_training_data_by_description_passes if {
	count(deny) == 0 with input as with_card({"intendedUse": "x", "limitations": "y", "trainingData": {"description": "1994 census extract"}})
}

test_training_data_as_string_passes if {
	count(deny) == 0 with input as with_card({"intendedUse": "x", "limitations": "y", "trainingData": "1994 census extract"})
}

test_empty_training_data_is_denied if {
	results := deny with input as with_card({"intendedUse": "x", "limitations": "y", "trainingData": {"dataset": "", "description": " "}})
	count(results) == 1
	some r in results
	r.id == "model-card-training-data"
	r.path == "/spec/card/trainingData"
}

test_missing_sha256_is_denied if {
	doc := with_versions([ver("1", art("a.pt")), ver("2", {"uri": "b.pt", "format": "torchscript"})])
	results := deny with input as doc
	count(results) == 1
	some r in results
	r.id == "model-artifact-sha256"
	r.path == "/spec/versions/1/artifact"
	r.msg == "version `2` of model `income` does not pin its artifact by `sha256`"
}

test_upper_case_sha256_is_denied if {
	doc := with_versions([ver("1", object.union(art("a.pt"), {"sha256": upper(sha)}))])
	results := deny with input as doc
	some r in results
	r.id == "model-artifact-sha256"
	r.path == "/spec/versions/0/artifact/sha256"
}

test_short_sha256_is_denied if {
	doc := with_versions([ver("1", object.union(art("a.pt"), {"sha256": "abc123"}))])
	ids(deny) == {"model-artifact-sha256"} with input as doc
}

test_http_uri_is_denied if {
	results := deny with input as with_versions([ver("1", art("a.pt")), ver("2", art("http://models.example.com/income/v2.pt"))])
	count(results) == 1
	some r in results
	r.id == "model-artifact-insecure-uri"
	r.path == "/spec/versions/1/artifact/uri"
}

test_http_uri_is_denied_in_any_case if {
	ids(deny) == {"model-artifact-insecure-uri"} with input as with_uri("HTTP://models.example.com/v1.pt")
}

test_https_and_object_store_uris_pass if {
	count(deny) == 0 with input as with_uri("https://models.example.com/v1.pt")
	count(deny) == 0 with input as with_uri("gs://models/v1.pt")
	count(deny) == 0 with input as with_uri("file:///srv/models/v1.pt")
}

test_dot_dot_segment_is_denied if {
	results := deny with input as with_uri("models/../../etc/passwd")
	count(results) == 1
	some r in results
	r.id == "model-artifact-path-traversal"
	r.path == "/spec/versions/0/artifact/uri"
}

test_leading_dot_dot_is_denied if {
	ids(deny) == {"model-artifact-path-traversal"} with input as with_uri("../outside.pt")
}

test_encoded_dot_dot_is_denied if {
	ids(deny) == {"model-artifact-path-traversal"} with input as with_uri("s3://bucket/a/%2E%2E/b.pt")
}

test_backslash_dot_dot_is_denied if {
	ids(deny) == {"model-artifact-path-traversal"} with input as with_uri(`models\..\x.pt`)
}

test_dots_inside_a_name_pass if {
	count(deny) == 0 with input as with_uri("models/income..v1.pt")
	count(deny) == 0 with input as with_uri("models/.hidden/v1.pt")
}

test_http_with_dot_dot_gives_both if {
	ids(deny) == {"model-artifact-insecure-uri", "model-artifact-path-traversal"} with input as with_uri("http://host/../x.pt")
}

test_missing_owner_warns if {
	doc := json.remove(good, ["spec/owner"])
	results := warn with input as doc
	count(results) == 1
	some r in results
	r.id == "model-owner"
	r.path == "/spec"
	count(deny) == 0 with input as doc
}

test_document_without_spec_does_not_fail if {
	doc := {"apiVersion": "tollgate.dev/v1alpha1", "kind": "Model", "metadata": {"name": "x"}}
	ids(deny) == {"model-card-intended-use", "model-card-limitations", "model-card-training-data"} with input as doc
	some r in deny with input as doc
	r.path == ""
}

test_results_are_objects_with_all_fields if {
	doc := json.remove(good, ["spec/card"])
	results := deny with input as doc
	count(results) == 3
	every r in results {
		object.keys(r) == {"id", "msg", "path", "hint"}
	}
}

test_malformed_versions_do_not_fail if {
	doc := {"metadata": {"name": "m"}, "spec": {"versions": [null, "1", {"artifact": "x"}, {"artifact": {"uri": 3}}], "card": "x"}}
	ids(deny) == {"model-card-intended-use", "model-card-limitations", "model-card-training-data", "model-artifact-sha256"} with input as doc
}
