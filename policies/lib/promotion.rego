# Default policies for Promotion documents, which tollgate writes under `deploy/`: a hand edit
# must not weaken what was promoted.
package tollgate.lib.promotion

import data.tollgate.lib.util

# What Argo CD or Flux deploys must be the image the gates and approvals saw.
deny contains result if {
	image := util.get(input, ["spec", "image"])
	image != null
	problem := util.image_problem(image)
	result := {
		"id": "promotion-image-digest",
		"msg": sprintf("promoted image `%v` of `%s` %s", [image, util.name, problem]),
		"path": "/spec/image",
		"hint": "promotions are written by tollgate; revert the hand edit and promote the release again",
	}
}

deny contains result if {
	sha := util.get(input, ["spec", "model", "sha256"])
	not valid_sha256(sha)
	result := {
		"id": "promotion-model-sha256",
		"msg": sprintf("promotion `%s` does not pin the model artifact by `sha256`", [util.name]),
		"path": util.nearest(input, ["spec", "model", "sha256"]),
		"hint": "promotions are written by tollgate; revert the hand edit and promote the release again",
	}
}

valid_sha256(s) if {
	is_string(s)
	regex.match(`^[0-9a-f]{64}$`, s)
}

# When the context carries the promotion's environment, the recorded approvals must be enough
# for it: fewer means the file was edited or written by something other than tollgate.
deny contains result if {
	env := util.get(input, ["context", "environment"])
	is_object(env)
	util.get(env, ["metadata", "name"]) == util.get(input, ["spec", "environment"])
	required := util.get(env, ["spec", "approvals", "required"])
	is_number(required)
	recorded := util.get(input, ["spec", "approvals"])
	approvers := {u | is_array(recorded); some a in recorded; u := util.field(a, "user", null); u != null}
	count(approvers) < required
	result := {
		"id": "promotion-approvals",
		"msg": sprintf("promotion `%s` records %d distinct approvers, but environment `%v` requires %v", [util.name, count(approvers), env.metadata.name, required]),
		"path": util.nearest(input, ["spec", "approvals"]),
		"hint": "promotions are written by tollgate; revert the hand edit and let the release collect its approvals",
	}
}
