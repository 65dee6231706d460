package tollgate.lib.environment

prod := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Environment",
	"metadata": {"name": "prod"},
	"spec": {
		"promotesFrom": "staging",
		"approvals": {"required": 2, "groups": ["ml-leads", "risk"], "separationOfDuties": true},
		"gates": ["quality", "fairness"],
		"freezes": [{"from": "2026-12-20T00:00:00+01:00", "to": "2027-01-04T00:00:00+01:00", "reason": "year-end"}],
	},
	"context": {"file": "environments/prod.yaml", "config": {"environments": ["dev", "staging", "prod"]}},
}

dev := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Environment",
	"metadata": {"name": "dev"},
	"spec": {},
	"context": {"config": {"environments": ["dev", "staging", "prod"]}},
}

ids(results) := {r.id | some r in results}

with_spec(doc, fields) := object.union(doc, {"spec": fields})

test_production_with_approvals_and_gates_passes if {
	count(deny) == 0 with input as prod
	count(warn) == 0 with input as prod
}

test_earlier_environment_needs_nothing if {
	count(deny) == 0 with input as dev
	count(warn) == 0 with input as dev
}

test_without_config_nothing_is_production if {
	doc := json.remove(prod, ["spec/approvals", "spec/gates", "context/config"])
	count(deny) == 0 with input as doc
	count(warn) == 0 with input as doc
}

test_null_or_empty_environment_order_passes if {
	doc := json.remove(prod, ["spec/approvals"])
	count(deny) == 0 with input as object.union(doc, {"context": {"config": null}})
	count(deny) == 0 with input as object.union(doc, {"context": {"config": {"environments": []}}})
	count(deny) == 0 with input as object.remove(doc, ["context"])
}

test_single_environment_is_production if {
	doc := object.union(json.remove(dev, ["context/config"]), {"context": {"config": {"environments": ["dev"]}}})
	ids(deny) == {"environment-production-approvals"} with input as doc
}

test_production_without_approvals_is_denied if {
	results := deny with input as json.remove(prod, ["spec/approvals"])
	count(results) == 1
	some r in results
	r.id == "environment-production-approvals"
	r.path == "/spec"
	r.msg == "production environment `prod` requires no approval"
}

test_production_with_zero_approvals_is_denied if {
	results := deny with input as with_spec(prod, {"approvals": {"required": 0}})
	some r in results
	r.id == "environment-production-approvals"
	r.path == "/spec/approvals/required"
}

test_production_separation_of_duties_off_is_denied if {
	results := deny with input as with_spec(prod, {"approvals": {"separationOfDuties": false}})
	count(results) == 1
	some r in results
	r.id == "environment-production-separation-of-duties"
	r.path == "/spec/approvals/separationOfDuties"
}

test_separation_of_duties_defaults_to_on if {
	count(deny) == 0 with input as json.remove(prod, ["spec/approvals/separationOfDuties"])
}

test_separation_of_duties_off_before_production_passes if {
	doc := with_spec(dev, {"approvals": {"required": 1, "separationOfDuties": false}})
	count(deny) == 0 with input as doc
}

test_production_without_gates_warns if {
	results := warn with input as json.remove(prod, ["spec/gates"])
	count(results) == 1
	some r in results
	r.id == "environment-production-gates"
	r.path == "/spec"
}

test_production_with_empty_gates_warns if {
	some r in warn with input as with_spec(prod, {"gates": []})
	r.id == "environment-production-gates"
	r.path == "/spec/gates"
}

# Times that one engine's parser takes and another's refuses (a lower-case `t`/`z`, second 60,
# 30 February) are not compared at all, so OPA and regorus agree, strict builtin errors or not;
# 29 February of a leap year is compared.
test_times_some_engines_refuse_are_not_compared if {
	doc := with_spec(prod, {"freezes": [
		{"from": "2027-04-10t00:00:00z", "to": "2027-04-01t00:00:00z", "reason": "lower case"},
		{"from": "2027-04-10T00:00:60Z", "to": "2027-04-01T00:00:00Z", "reason": "leap second"},
		{"from": "2027-02-30T00:00:00Z", "to": "2027-01-01T00:00:00Z", "reason": "no such day"},
		{"from": "2027-02-29T00:00:00Z", "to": "2027-01-01T00:00:00Z", "reason": "not a leap year"},
	]})
	count(deny) == 0 with input as doc
	leap := with_spec(prod, {"freezes": [{"from": "2028-02-29T00:00:00Z", "to": "2028-02-01T00:00:00Z", "reason": "leap"}]})
	some r in deny with input as leap
	r.id == "environment-freeze-order"
}

test_reversed_freeze_is_denied if {
	doc := with_spec(prod, {"freezes": [
		{"from": "2026-12-20T00:00:00Z", "to": "2027-01-04T00:00:00Z", "reason": "year-end"},
		{"from": "2027-03-10T00:00:00Z", "to": "2027-03-01T00:00:00Z", "reason": "audit"},
	]})
	results := deny with input as doc
	count(results) == 1
	some r in results
	r.id == "environment-freeze-order"
	r.path == "/spec/freezes/1/to"
	r.msg == "freeze 1 of environment `prod` ends (`2027-03-01T00:00:00Z`) no later than it starts (`2027-03-10T00:00:00Z`)"
}

# Regression (issue #12): a freeze with `from == to` was refused by `tollgate windows` and check's
# windows stage but passed this rule.
test_a_freeze_that_ends_when_it_starts_is_denied if {
	doc := with_spec(dev, {"freezes": [{"from": "2026-12-20T00:00:00Z", "to": "2026-12-20T01:00:00+01:00", "reason": "x"}]})
	ids(deny) == {"environment-freeze-order"} with input as doc
}

test_freeze_order_compares_instants_not_strings if {
	# 01:00+02:00 is 23:00 the previous day in UTC, before 2026-12-20T00:00:00Z.
	doc := with_spec(dev, {"freezes": [{"from": "2026-12-20T00:00:00Z", "to": "2026-12-20T01:00:00+02:00", "reason": "x"}]})
	ids(deny) == {"environment-freeze-order"} with input as doc
}

test_freeze_with_fractional_seconds_passes if {
	doc := with_spec(dev, {"freezes": [{"from": "2026-12-20T00:00:00.5Z", "to": "2026-12-21T00:00:00.25Z", "reason": "x"}]})
	count(deny) == 0 with input as doc
}

test_malformed_freeze_times_do_not_fail if {
	doc := with_spec(dev, {"freezes": [
		{"from": "next week", "to": "2026-12-20T00:00:00Z", "reason": "x"},
		{"from": 20261220, "to": null, "reason": "y"},
		{"reason": "z"},
	]})
	count(deny) == 0 with input as doc
}

test_malformed_fields_do_not_fail if {
	doc := object.union(prod, {"spec": {"approvals": "two", "freezes": [null, "x"], "gates": "quality"}})
	ids(deny) == {"environment-production-approvals"} with input as doc
	ids(warn) == {"environment-production-gates"} with input as doc
}
