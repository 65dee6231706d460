# Default policies for Environment documents: production needs people to approve, and dated
# freezes must make sense.
package tollgate.lib.environment

import data.tollgate.lib.util

# The last environment of the promotion order in tollgate.yaml is production. Undefined when the
# Config is not in the context, so nothing below fires without it.
production if {
	order := util.get(input, ["context", "config", "environments"])
	is_array(order)
	count(order) > 0
	order[count(order) - 1] == input.metadata.name
}

approvals := a if {
	a := input.spec.approvals
	is_object(a)
} else := {}

# A release reaches customers from production; at least one person other than its author must
# have said yes.
deny contains result if {
	production
	required := util.field(approvals, "required", 0)
	not at_least_one(required)
	result := {
		"id": "environment-production-approvals",
		"msg": sprintf("production environment `%s` requires no approval", [util.name]),
		"path": util.nearest(input, ["spec", "approvals", "required"]),
		"hint": "set `spec.approvals.required` to 1 or more and name the approver `groups`",
	}
}

at_least_one(n) if {
	is_number(n)
	n >= 1
}

# With separation of duties off, the author of a release change could approve it alone.
deny contains result if {
	production
	util.field(approvals, "separationOfDuties", true) == false
	result := {
		"id": "environment-production-separation-of-duties",
		"msg": sprintf("production environment `%s` lets the author of a release approve it", [util.name]),
		"path": "/spec/approvals/separationOfDuties",
		"hint": "remove `separationOfDuties: false` (the default is `true`)",
	}
}

# Production with no required gate category promotes whatever the release asks to be measured on.
warn contains result if {
	production
	gates := util.get(input, ["spec", "gates"])
	not non_empty_array(gates)
	result := {
		"id": "environment-production-gates",
		"msg": sprintf("production environment `%s` requires no gate category", [util.name]),
		"path": util.nearest(input, ["spec", "gates"]),
		"hint": "set `spec.gates`, e.g. `[quality, fairness]`, so every release must define and pass them",
	}
}

non_empty_array(x) if {
	is_array(x)
	count(x) > 0
}

freezes := f if {
	f := input.spec.freezes
	is_array(f)
} else := []

# A freeze that ends before it starts, or when it starts, covers nothing, which is never what its
# author meant (`tollgate windows` and check's windows stage refuse the same freezes).
deny contains result if {
	some i, freeze in freezes
	from_ns := rfc3339_ns(util.field(freeze, "from", null))
	to_ns := rfc3339_ns(util.field(freeze, "to", null))
	to_ns <= from_ns
	result := {
		"id": "environment-freeze-order",
		"msg": sprintf("freeze %d of environment `%s` ends (`%s`) no later than it starts (`%s`)", [i, util.name, freeze.to, freeze.from]),
		"path": sprintf("/spec/freezes/%d/to", [i]),
		"hint": "swap `from` and `to`, or fix the dates",
	}
}

# Nanoseconds since the epoch of an RFC 3339 time; undefined for anything else (the schema
# reports malformed times), so that a bad string never makes the policy fail, with strict
# builtin errors too: only what every engine's parser takes reaches `time.parse_rfc3339_ns`
# (upper-case `T` and `Z`, which OPA requires; no second 60; no 30 February).
rfc3339_ns(s) := time.parse_rfc3339_ns(s) if {
	is_string(s)
	regex.match(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`, s)
	day_exists(substring(s, 0, 4), substring(s, 5, 2), substring(s, 8, 2))
}

# Whether day `d` of month `m` of year `y` (strings of digits) exists. The digits are read with a
# `1` in front: regorus's `to_number` refuses a leading zero (`"04"`), OPA's takes it.
day_exists(y, m, d) if {
	day := to_number(concat("", ["1", d])) - 100
	day <= days_in_month(to_number(concat("", ["1", y])) - 10000, to_number(concat("", ["1", m])) - 100)
}

days_in_month(y, m) := 29 if {
	m == 2
	leap_year(y)
} else := 28 if {
	m == 2
} else := 30 if {
	m in {4, 6, 9, 11}
} else := 31

leap_year(y) if {
	y % 4 == 0
	y % 100 != 0
}

leap_year(y) if y % 400 == 0
