# Default policies for Release documents: an immutable, unprivileged, sized serving container,
# and gates that measure what matters for the model.
package tollgate.lib.release

import data.tollgate.lib.util

serving := s if {
	s := input.spec.serving
	is_object(s)
} else := {}

# A tag can be moved to other bytes after the gates and approvals; a digest cannot. Approvals bind
# to the image string, so only a digest makes them bind to what runs.
deny contains result if {
	image := util.field(serving, "image", null)
	problem := util.image_problem(image)
	result := {
		"id": "release-image-digest",
		"msg": sprintf("serving image `%v` of release `%s` %s", [image, util.name, problem]),
		"path": util.nearest(input, ["spec", "serving", "image"]),
		"hint": util.image_hint,
	}
}

# Without requests the scheduler cannot place the model sensibly; without limits one release can
# starve its neighbours.
deny contains result if {
	missing := [sprintf("`%s.%s`", [section, resource]) |
		some section in ["requests", "limits"]
		some resource in ["cpu", "memory"]
		not has_resource(section, resource)
	]
	count(missing) > 0
	result := {
		"id": "release-serving-resources",
		"msg": sprintf("release `%s` does not set serving %s", [util.name, concat(", ", missing)]),
		"path": util.nearest(input, ["spec", "serving", "resources"]),
		"hint": "set `spec.serving.resources.requests` and `.limits`, each with `cpu` and `memory`",
	}
}

has_resource(section, resource) if {
	value := util.get(input, ["spec", "serving", "resources", section, resource])
	value != null
	value != ""
}

# A privileged container can take over the node it runs on, and every model served there.
deny contains result if {
	util.get(input, ["spec", "serving", "securityContext", "privileged"]) == true
	result := {
		"id": "release-serving-privileged",
		"msg": sprintf("release `%s` asks for a privileged serving container", [util.name]),
		"path": "/spec/serving/securityContext/privileged",
		"hint": "remove `privileged: true`; serving a model needs no host access",
	}
}

# Without an evaluation dataset no quality or fairness gate can run, and the decision rests on
# approvals alone.
warn contains result if {
	util.blank(util.get(input, ["spec", "gates", "evaluation"]))
	result := {
		"id": "release-gates-evaluation",
		"msg": sprintf("release `%s` names no evaluation dataset, so no quality or fairness gate runs", [util.name]),
		"path": util.nearest(input, ["spec", "gates", "evaluation"]),
		"hint": "set `spec.gates.evaluation` to a Dataset and add thresholds under `spec.gates.quality`",
	}
}

classification_tasks := {"binaryClassification", "multiclassClassification"}

# A classifier evaluated on data with protected attributes should be held to a fairness bound,
# or an error rate that differs between groups goes unnoticed.
warn contains result if {
	util.get(input, ["context", "model", "spec", "task"]) in classification_tasks
	evaluation := util.get(input, ["spec", "gates", "evaluation"])
	is_string(evaluation)
	sensitive := util.get(input, ["context", "datasets", evaluation, "spec", "sensitiveFeatures"])
	is_array(sensitive)
	count(sensitive) > 0
	not has_fairness_threshold
	result := {
		"id": "release-fairness-thresholds",
		"msg": sprintf("release `%s` evaluates a classifier on `%s`, which has sensitive features %s, but sets no fairness threshold", [util.name, evaluation, concat(", ", [sprintf("`%v`", [f]) | some f in sensitive])]),
		"path": util.nearest(input, ["spec", "gates", "fairness"]),
		"hint": "add `spec.gates.fairness`, e.g. `{metric: demographic_parity_ratio, min: 0.8, sensitiveFeatures: [...]}`",
	}
}

has_fairness_threshold if {
	fairness := util.get(input, ["spec", "gates", "fairness"])
	is_array(fairness)
	count(fairness) > 0
}

# A fairness metric listed among the quality thresholds counts too.
has_fairness_threshold if {
	some threshold in util.list(util.get(input, ["spec", "gates", "quality"]))
	is_object(threshold)
	fairness_metric(util.field(threshold, "metric", ""))
}

fairness_metric(metric) if {
	is_string(metric)
	some prefix in [
		"demographic_parity", "equalized_odds", "equal_opportunity", "disparate_impact",
		"selection_rate", "true_positive_rate_", "false_positive_rate_", "false_negative_rate_",
	]
	startswith(metric, prefix)
}
