package tollgate.release

release(fields) := object.union({
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Release",
	"metadata": {"name": "r"},
	"spec": {"environment": "prod", "description": "why", "serving": {"image": "x", "replicas": 2}},
}, {"spec": fields})

test_described_release_passes if {
	count(deny) == 0 with input as release({})
	count(warn) == 0 with input as release({})
}

test_prod_release_without_description_is_denied if {
	some r in deny with input as json.remove(release({}), ["spec/description"])
	r.id == "acme-release-description"
	some s in deny with input as release({"description": "  "})
	s.id == "acme-release-description"
}

test_staging_release_needs_no_description if {
	count(deny) == 0 with input as json.remove(release({"environment": "staging"}), ["spec/description"])
}

test_single_replica_in_prod_warns if {
	some r in warn with input as release({"serving": {"replicas": 1}})
	r.id == "acme-prod-replicas"
}
