# Default policies for Dataset documents: data pinned by digest, with known provenance, and
# personal data marked as such.
package tollgate.lib.dataset

import data.tollgate.lib.util

# A gate result is only reproducible when the bytes it was computed on are pinned. The schema
# requires the digest too; the policy keeps the guarantee when schemas are checked elsewhere.
deny contains result if {
	sha := util.get(input, ["spec", "sha256"])
	not valid_sha256(sha)
	result := {
		"id": "dataset-sha256",
		"msg": sprintf("dataset `%s` does not pin its data by `sha256`", [util.name]),
		"path": util.nearest(input, ["spec", "sha256"]),
		"hint": "set `spec.sha256` to the lower-case hex SHA-256 of the file (`sha256sum FILE`)",
	}
}

valid_sha256(s) if {
	is_string(s)
	regex.match(`^[0-9a-f]{64}$`, s)
}

# Auditors ask where evaluation data came from before they trust a fairness number computed on it.
deny contains result if {
	util.blank(util.get(input, ["spec", "lineage", "source"]))
	result := {
		"id": "dataset-lineage-source",
		"msg": sprintf("dataset `%s` does not say where its data came from", [util.name]),
		"path": util.nearest(input, ["spec", "lineage", "source"]),
		"hint": "set `spec.lineage.source` to the system, vendor or survey the data came from; list upstream datasets in `spec.lineage.derivedFrom`",
	}
}

deny contains result if {
	uri := util.get(input, ["spec", "uri"])
	is_string(uri)
	startswith(lower(trim_space(uri)), "http://")
	result := {
		"id": "dataset-insecure-uri",
		"msg": sprintf("dataset `%s` is fetched over plain HTTP: `%s`", [util.name, uri]),
		"path": "/spec/uri",
		"hint": "use `https://`, an object store (`s3://`, `gs://`, `az://`) or a path in the repo",
	}
}

deny contains result if {
	uri := util.get(input, ["spec", "uri"])
	util.path_traversal(uri)
	result := {
		"id": "dataset-path-traversal",
		"msg": sprintf("dataset `%s` has `..` in its uri `%s`", [util.name, uri]),
		"path": "/spec/uri",
		"hint": "name the data by a path without `..`, relative to the repo root, or by a full object-store URI",
	}
}

columns := c if {
	c := input.spec.schema.columns
	is_array(c)
} else := []

# A column whose name looks like personal data must say whether it is: `pii: true` makes the
# decision visible (and is fine on a sensitive feature or a label); `pii: false` records that
# someone looked. Silence is what the rule refuses.
deny contains result if {
	some i, column in columns
	is_object(column)
	not is_boolean(util.field(column, "pii", null))
	column_name := util.field(column, "name", "")
	kinds := pii_kinds(column_name)
	count(kinds) > 0
	result := {
		"id": "dataset-pii-unmarked",
		"msg": sprintf("column `%s` of dataset `%s` looks like personal data (%s) but has no `pii` field", [column_name, util.name, concat(", ", sort(kinds))]),
		"path": sprintf("/spec/schema/columns/%d", [i]),
		"hint": "set `pii: true` if the column holds personal data (and check it is needed), or `pii: false` once someone has reviewed that it does not",
	}
}

# The lower-case word parts of a column name: `firstName`, `first_name`, `First-Name` and
# `first name` all give {"first", "name"}; `IPAddress` gives {"ip", "address"}; `address2`
# gives {"address", "2"}. Whole words keep `filename` and `hostname` from matching `name`.
words(column_name) := {w |
	is_string(column_name)
	a := regex.replace(column_name, `([A-Z]+)([A-Z][a-z])`, "${1}_${2}")
	b := regex.replace(a, `([a-z])([A-Z0-9])`, "${1}_${2}")
	some w in regex.split(`[^a-z0-9]+`, lower(b))
	w != ""
}

# Kinds of personal data a column name suggests. A pattern matches when the name has every
# word of `all` and, if `any` is given, at least one word of `any`.
pii_kinds(column_name) := {p.kind |
	ws := words(column_name)
	some p in pii_patterns
	matches(p, ws)
} | exact_name(column_name)

# A column called just `name` most likely holds a person's name.
exact_name(column_name) := {"person name"} if {
	words(column_name) == {"name"}
} else := set()

matches(p, ws) if {
	count([w | some w in util.field(p, "all", []); not w in ws]) == 0
	any_ok(util.field(p, "any", []), ws)
}

any_ok(options, _) if count(options) == 0

any_ok(options, ws) if {
	some w in options
	w in ws
}

# Qualifiers that make a `name` column a person's name (`customer_name`), as opposed to
# `product_name` or `file_name`.
person_qualifiers := [
	"first", "last", "full", "given", "family", "middle", "maiden", "sur", "user", "customer",
	"client", "person", "patient", "employee", "member", "contact", "applicant", "holder",
	"owner", "account", "legal", "birth", "mother", "father", "spouse",
]

pii_patterns := [
	{"kind": "email address", "any": ["email", "emailaddress", "emailaddr"]},
	{"kind": "email address", "all": ["e", "mail"]},
	{"kind": "phone number", "any": ["phone", "phonenumber", "telephone", "msisdn", "cellphone", "mobilephone"]},
	{"kind": "phone number", "all": ["mobile", "number"]},
	{"kind": "social security number", "any": ["ssn", "socialsecurity", "socialsecuritynumber"]},
	{"kind": "social security number", "all": ["social", "security"]},
	{"kind": "person name", "any": [
		"firstname", "lastname", "fullname", "surname", "givenname", "familyname", "middlename",
		"maidenname", "forename", "username", "nickname",
	]},
	{"kind": "person name", "all": ["name"], "any": person_qualifiers},
	{"kind": "postal address", "any": [
		"address", "streetaddress", "street", "zip", "zipcode", "postcode", "postalcode",
		"housenumber",
	]},
	{"kind": "postal address", "all": ["postal", "code"]},
	{"kind": "postal address", "all": ["post", "code"]},
	{"kind": "date of birth", "any": ["dob", "birthdate", "dateofbirth", "birthday"]},
	{"kind": "date of birth", "all": ["birth"], "any": ["date", "day"]},
	{"kind": "ip address", "any": ["ip", "ipv", "ipaddress", "ipaddr"]},
	{"kind": "passport number", "any": ["passport", "passportnumber", "passportno"]},
	{"kind": "payment card number", "any": ["creditcard", "cardnumber", "ccnumber", "cvv", "cvc"]},
	{"kind": "payment card number", "all": ["credit", "card"]},
	{"kind": "payment card number", "all": ["card"], "any": ["number", "no", "num"]},
	{"kind": "bank account", "any": ["iban", "bankaccount", "accountnumber"]},
	{"kind": "bank account", "all": ["bank", "account"]},
	{"kind": "bank account", "all": ["account"], "any": ["number", "no", "num"]},
	{"kind": "national identifier", "any": ["nationalid", "taxid", "driverslicense", "driverlicense"]},
	{"kind": "national identifier", "all": ["national"], "any": ["id", "identifier", "number", "no"]},
	{"kind": "national identifier", "all": ["tax"], "any": ["id", "identifier", "number", "no"]},
	{"kind": "national identifier", "any": ["driver", "drivers"], "all": ["license"]},
	{"kind": "national identifier", "any": ["driver", "drivers"], "all": ["licence"]},
	{"kind": "precise location", "any": ["latitude", "longitude", "geolocation"]},
]
