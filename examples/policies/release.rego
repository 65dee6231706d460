# Acme's own release rules, evaluated next to tollgate's default library (`tollgate.lib.*`).
# Files under the folders of `spec.policies.paths` in tollgate.yaml are loaded; rules `deny`,
# `violation` and `warn` in package `tollgate.release` apply to every Release.
package tollgate.release

# Credit officers read the release note before approving; an empty one wastes their review.
deny contains result if {
	input.spec.environment == "prod"
	not has_description
	result := {
		"id": "acme-release-description",
		"msg": sprintf("release `%s` goes to prod without a description", [input.metadata.name]),
		"path": "/spec",
		"hint": "set `spec.description`: what changes for the people scored by the model, and why",
	}
}

has_description if trim_space(input.spec.description) != ""

# One replica means every node drain is an outage.
warn contains result if {
	input.spec.environment == "prod"
	object.get(input.spec.serving, "replicas", 1) < 2
	result := {
		"id": "acme-prod-replicas",
		"msg": sprintf("release `%s` serves prod from a single replica", [input.metadata.name]),
		"path": "/spec/serving",
		"hint": "set `spec.serving.replicas` to 2 or more",
	}
}
