package tollgate.lib.config

good := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Config",
	"metadata": {"name": "acme-ml"},
	"spec": {
		"environments": ["dev", "staging", "prod"],
		"groups": [
			{"name": "ml-leads", "members": ["alice", "bob"]},
			{"name": "risk", "members": ["carol"]},
		],
		"users": [
			{"name": "alice", "email": "alice@example.com", "roles": ["approver"]},
			{"name": "bob", "email": "bob@example.com", "roles": ["approver", "admin"]},
			{"name": "carol", "email": "carol@example.com", "roles": ["approver"]},
			{"name": "dave", "roles": ["viewer"]},
		],
	},
}

ids(results) := {r.id | some r in results}

with_spec(fields) := object.union(good, {"spec": fields})

test_good_config_passes if {
	count(warn) == 0 with input as good
}

test_minimal_config_passes if {
	count(warn) == 0 with input as {"apiVersion": "tollgate.dev/v1alpha1", "kind": "Config", "metadata": {"name": "x"}, "spec": {"environments": ["dev"]}}
}

test_approver_without_email_warns if {
	users := [{"name": "alice", "roles": ["approver"]}, {"name": "bob", "email": "", "roles": ["admin"]}]
	results := warn with input as with_spec({"users": users, "groups": []})
	count(results) == 2
	some r in results
	r.id == "config-approver-email"
	r.path == "/spec/users/0"
	r.msg == "user `alice` may approve releases but has no email, so separation of duties cannot recognise their commits"
}

test_viewer_without_email_passes if {
	count(warn) == 0 with input as with_spec({"users": [{"name": "dave", "roles": ["viewer"]}], "groups": []})
}

test_empty_group_warns if {
	results := warn with input as with_spec({"groups": [{"name": "ml-leads", "members": ["alice"]}, {"name": "risk", "members": []}]})
	count(results) == 1
	some r in results
	r.id == "config-group-empty"
	r.path == "/spec/groups/1/members"
}

test_unknown_group_member_warns if {
	results := warn with input as with_spec({"groups": [{"name": "risk", "members": ["carol", "mallory"]}]})
	count(results) == 1
	some r in results
	r.id == "config-group-member-unknown"
	r.path == "/spec/groups/0/members/1"
	r.msg == "member `mallory` of group `risk` is not in `spec.users`"
}

test_members_are_not_checked_without_users if {
	doc := json.remove(good, ["spec/users"])
	count(warn) == 0 with input as doc
}

test_malformed_users_and_groups_do_not_fail if {
	doc := with_spec({"users": [null, "alice", {"name": "bob", "roles": "admin"}], "groups": [null, {"name": "g", "members": "alice"}]})
	count(warn) == 0 with input as doc
}
