# Default policies for the Config document (tollgate.yaml): the people who approve releases
# can be told apart and reached.
package tollgate.lib.config

import data.tollgate.lib.util

users := u if {
	u := input.spec.users
	is_array(u)
} else := []

groups := g if {
	g := input.spec.groups
	is_array(g)
} else := []

# Separation of duties compares the release author's Git email with the approver's; an approver
# without an email can never be matched, so the check would pass by accident.
warn contains result if {
	some i, user in users
	is_object(user)
	some role in util.list(util.field(user, "roles", []))
	role in {"approver", "admin"}
	util.blank(util.field(user, "email", null))
	result := {
		"id": "config-approver-email",
		"msg": sprintf("user `%v` may approve releases but has no email, so separation of duties cannot recognise their commits", [util.field(user, "name", i)]),
		"path": sprintf("/spec/users/%d", [i]),
		"hint": "set `email` to the address the user commits with",
	}
}

# An empty group named by an environment's approvals can never approve anything.
warn contains result if {
	some i, group in groups
	is_object(group)
	members := util.field(group, "members", [])
	is_array(members)
	count(members) == 0
	result := {
		"id": "config-group-empty",
		"msg": sprintf("group `%v` has no members", [util.field(group, "name", i)]),
		"path": sprintf("/spec/groups/%d/members", [i]),
		"hint": "add the users who may approve, or remove the group",
	}
}

# Approvals come from group members; a member who is not a known user has no roles, so the
# approval would not count.
warn contains result if {
	count(users) > 0
	known := {n | some user in users; n := util.field(user, "name", null)}
	some i, group in groups
	is_object(group)
	some j, member in util.list(util.field(group, "members", []))
	not member in known
	result := {
		"id": "config-group-member-unknown",
		"msg": sprintf("member `%v` of group `%v` is not in `spec.users`", [member, util.field(group, "name", i)]),
		"path": sprintf("/spec/groups/%d/members/%d", [i, j]),
		"hint": "add the user to `spec.users` with the `approver` role, or fix the name",
	}
}
