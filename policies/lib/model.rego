# Default policies for Model documents: a model card that says what the model is for, where it
# fails and what it learned from, and artifacts that are fetched safely.
package tollgate.lib.model

import data.tollgate.lib.util

# Model card fields every model must fill in (after Mitchell et al., "Model Cards for Model
# Reporting", 2019): rule id, field, what to write.
card_fields := [
	{
		"id": "model-card-intended-use",
		"field": "intendedUse",
		"what": "intended use",
		"hint": "set `spec.card.intendedUse`: what the model is for, who uses its output and for which decisions",
	},
	{
		"id": "model-card-limitations",
		"field": "limitations",
		"what": "limitations",
		"hint": "set `spec.card.limitations`: known failure modes, populations or inputs where it performs worse",
	},
]

deny contains result if {
	some f in card_fields
	util.blank(util.get(input, ["spec", "card", f.field]))
	result := {
		"id": f.id,
		"msg": sprintf("model `%s` has no %s in its model card", [util.name, f.what]),
		"path": util.nearest(input, ["spec", "card", f.field]),
		"hint": f.hint,
	}
}

# Training data is an object naming a Dataset of the repo or describing the data; either will do.
deny contains result if {
	not training_data_described
	result := {
		"id": "model-card-training-data",
		"msg": sprintf("model `%s` has no training data in its model card", [util.name]),
		"path": util.nearest(input, ["spec", "card", "trainingData"]),
		"hint": "set `spec.card.trainingData.dataset` to the Dataset it was trained on, or `spec.card.trainingData.description`",
	}
}

training_data_described if {
	td := util.get(input, ["spec", "card", "trainingData"])
	is_object(td)
	some field in ["dataset", "description"]
	not util.blank(util.field(td, field, null))
}

# A plain string is accepted too, for cards written before the field became an object.
training_data_described if not util.blank(util.get(input, ["spec", "card", "trainingData"]))

versions := v if {
	v := input.spec.versions
	is_array(v)
} else := []

# The schema already requires the digest; the policy keeps the guarantee when schemas are
# checked elsewhere or a document is built by hand.
deny contains result if {
	some i, version in versions
	sha := util.field(util.field(version, "artifact", {}), "sha256", null)
	not valid_sha256(sha)
	result := {
		"id": "model-artifact-sha256",
		"msg": sprintf("version `%v` of model `%s` does not pin its artifact by `sha256`", [util.field(version, "version", i), util.name]),
		"path": util.nearest(input, ["spec", "versions", i, "artifact", "sha256"]),
		"hint": "set `artifact.sha256` to the lower-case hex SHA-256 of the file (`sha256sum FILE`)",
	}
}

valid_sha256(s) if {
	is_string(s)
	regex.match(`^[0-9a-f]{64}$`, s)
}

# Plain HTTP can be rewritten in transit; the digest catches that, but only after the download,
# and the URI would also leak to every proxy on the way.
deny contains result if {
	some i, version in versions
	uri := util.field(util.field(version, "artifact", {}), "uri", null)
	is_string(uri)
	startswith(lower(trim_space(uri)), "http://")
	result := {
		"id": "model-artifact-insecure-uri",
		"msg": sprintf("version `%v` of model `%s` fetches its artifact over plain HTTP: `%s`", [util.field(version, "version", i), util.name, uri]),
		"path": sprintf("/spec/versions/%d/artifact/uri", [i]),
		"hint": "use `https://`, an object store (`s3://`, `gs://`, `az://`) or a path in the repo",
	}
}

# A `..` segment walks out of the folder the URI names; in a repo path it could leave the repo.
deny contains result if {
	some i, version in versions
	uri := util.field(util.field(version, "artifact", {}), "uri", null)
	util.path_traversal(uri)
	result := {
		"id": "model-artifact-path-traversal",
		"msg": sprintf("version `%v` of model `%s` has `..` in its artifact uri `%s`", [util.field(version, "version", i), util.name, uri]),
		"path": sprintf("/spec/versions/%d/artifact/uri", [i]),
		"hint": "name the artifact by a path without `..`, relative to the repo root, or by a full object-store URI",
	}
}

# Someone must be accountable for a model in production.
warn contains result if {
	util.blank(util.get(input, ["spec", "owner"]))
	result := {
		"id": "model-owner",
		"msg": sprintf("model `%s` names no owner", [util.name]),
		"path": util.nearest(input, ["spec", "owner"]),
		"hint": "set `spec.owner` to the team or person accountable for the model",
	}
}
