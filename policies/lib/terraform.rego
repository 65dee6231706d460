# Default policies for Terraform plans (input: `terraform show -json` output found by
# `spec.plans`): no SSH open to the internet, no public or unencrypted buckets.
#
# Only resources the plan creates or updates are checked (`change.actions` has `create` or
# `update`; a replacement is `["delete", "create"]`), against their planned state `change.after`.
# Values known only after apply are absent or null there, and never match.
package tollgate.lib.terraform

import data.tollgate.lib.util

# Resource changes the plan creates or updates, by index in `resource_changes`.
changing[i] := rc if {
	some i, rc in list(input.resource_changes)
	is_object(rc)
	some action in list(util.field(rc, ["change", "actions"], []))
	action in {"create", "update"}
	is_object(util.field(rc, ["change", "after"], null))
}

list(x) := x if is_array(x) else := []

after_path(i) := sprintf("/resource_changes/%d/change/after", [i])

address(rc) := util.field(rc, "address", sprintf("%v.%v", [util.field(rc, "type", "?"), util.field(rc, "name", "?")]))

ssh_hint := "allow SSH only from known ranges (a VPN or bastion CIDR), or reach hosts through AWS SSM Session Manager, GCP IAP or Azure Bastion instead"

# ---------------------------------------------------------------------------------------------
# SSH open to the world

world_ipv4 := "0.0.0.0/0"

world_ipv6 := "::/0"

# AWS protocols: `tcp` or `6`, or every protocol (`-1`, `all`), which ignores the ports.
aws_all_protocols(p) if lower(sprintf("%v", [p])) in {"-1", "all"}

aws_ssh(protocol, from_port, to_port) if aws_all_protocols(protocol)

aws_ssh(protocol, from_port, to_port) if {
	lower(sprintf("%v", [protocol])) in {"tcp", "6"}
	is_number(from_port)
	is_number(to_port)
	from_port <= 22
	to_port >= 22
}

# The world CIDRs an AWS rule opens to, from `cidr_blocks` and `ipv6_cidr_blocks`.
aws_world_sources(rule) := {c |
	some field in ["cidr_blocks", "ipv6_cidr_blocks"]
	some c in list(util.field(rule, field, []))
	c in {world_ipv4, world_ipv6}
}

ssh_result(rc, path, sources) := {
	"id": "terraform-ssh-open-to-world",
	"msg": sprintf("`%s` opens SSH (port 22) to the internet (%s)", [address(rc), concat(", ", [sprintf("`%s`", [s]) | some s in sort(sources)])]),
	"path": path,
	"hint": ssh_hint,
}

# Inline ingress blocks of a security group.
deny contains result if {
	some i, rc in changing
	rc.type == "aws_security_group"
	some j, rule in list(util.field(rc.change.after, "ingress", []))
	is_object(rule)
	aws_ssh(util.field(rule, "protocol", ""), util.field(rule, "from_port", null), util.field(rule, "to_port", null))
	sources := aws_world_sources(rule)
	count(sources) > 0
	result := ssh_result(rc, sprintf("%s/ingress/%d", [after_path(i), j]), sources)
}

deny contains result if {
	some i, rc in changing
	rc.type == "aws_security_group_rule"
	after := rc.change.after
	util.field(after, "type", "") == "ingress"
	aws_ssh(util.field(after, "protocol", ""), util.field(after, "from_port", null), util.field(after, "to_port", null))
	sources := aws_world_sources(after)
	count(sources) > 0
	result := ssh_result(rc, after_path(i), sources)
}

deny contains result if {
	some i, rc in changing
	rc.type == "aws_vpc_security_group_ingress_rule"
	after := rc.change.after
	aws_ssh(util.field(after, "ip_protocol", ""), util.field(after, "from_port", null), util.field(after, "to_port", null))
	sources := {c |
		some field in ["cidr_ipv4", "cidr_ipv6"]
		c := util.field(after, field, null)
		c in {world_ipv4, world_ipv6}
	}
	count(sources) > 0
	result := ssh_result(rc, after_path(i), sources)
}

# A port spec covers 22: `22`, `*`, or a range `a-b` with a <= 22 <= b.
port_covers_ssh(p) if {
	is_number(p)
	p == 22
}

port_covers_ssh(p) if {
	is_string(p)
	trim_space(p) in {"22", "*"}
}

port_covers_ssh(p) if {
	is_string(p)
	regex.match(`^ *[0-9]+ *- *[0-9]+ *$`, p)
	bounds := split(p, "-")
	to_number(trim_space(bounds[0])) <= 22
	to_number(trim_space(bounds[1])) >= 22
}

# GCP: an `allow` block for tcp (or all protocols) whose ports include 22, or that lists no
# ports at all (every port).
gcp_allow_covers_ssh(allow) if {
	lower(sprintf("%v", [util.field(allow, "protocol", "")])) in {"tcp", "6", "all"}
	ports := list(util.field(allow, "ports", []))
	count(ports) == 0
}

gcp_allow_covers_ssh(allow) if {
	lower(sprintf("%v", [util.field(allow, "protocol", "")])) in {"tcp", "6", "all"}
	some p in list(util.field(allow, "ports", []))
	port_covers_ssh(p)
}

# A firewall without `direction` is an ingress one.
gcp_ingress(after) if util.field(after, "direction", null) == null

gcp_ingress(after) if upper(sprintf("%v", [after.direction])) == "INGRESS"

deny contains result if {
	some i, rc in changing
	rc.type == "google_compute_firewall"
	after := rc.change.after
	gcp_ingress(after)
	util.field(after, "disabled", false) != true
	sources := {s | some s in list(util.field(after, "source_ranges", [])); s in {world_ipv4, world_ipv6}}
	count(sources) > 0
	some j, allow in list(util.field(after, "allow", []))
	is_object(allow)
	gcp_allow_covers_ssh(allow)
	result := ssh_result(rc, sprintf("%s/allow/%d", [after_path(i), j]), sources)
}

# Azure: an inbound allow rule for Tcp (or `*`) whose destination ports include 22 and whose
# source is anyone.
azure_world := {"*", "0.0.0.0/0", "0.0.0.0", "::/0", "internet", "any"}

azure_open_ssh_sources(rule) := sources if {
	lower(sprintf("%v", [util.field(rule, "direction", "")])) == "inbound"
	lower(sprintf("%v", [util.field(rule, "access", "")])) == "allow"
	lower(sprintf("%v", [util.field(rule, "protocol", "")])) in {"tcp", "*"}
	azure_ports_cover_ssh(rule)
	sources := {s |
		some s in array.concat([util.field(rule, "source_address_prefix", null)], list(util.field(rule, "source_address_prefixes", [])))
		is_string(s)
		lower(s) in azure_world
	}
	count(sources) > 0
}

azure_ports_cover_ssh(rule) if port_covers_ssh(util.field(rule, "destination_port_range", null))

azure_ports_cover_ssh(rule) if {
	some p in list(util.field(rule, "destination_port_ranges", []))
	port_covers_ssh(p)
}

deny contains result if {
	some i, rc in changing
	rc.type == "azurerm_network_security_rule"
	sources := azure_open_ssh_sources(rc.change.after)
	result := ssh_result(rc, after_path(i), sources)
}

# Rules written inline in a network security group.
deny contains result if {
	some i, rc in changing
	rc.type == "azurerm_network_security_group"
	some j, rule in list(util.field(rc.change.after, "security_rule", []))
	is_object(rule)
	sources := azure_open_ssh_sources(rule)
	result := ssh_result(rc, sprintf("%s/security_rule/%d", [after_path(i), j]), sources)
}

# ---------------------------------------------------------------------------------------------
# Public buckets

public_acls := {"public-read", "public-read-write", "authenticated-read"}

public_hint := "keep the bucket private and grant access to specific principals; serve public content through a CDN with its own identity"

public_acl_result(rc, path, what) := {
	"id": "terraform-bucket-public-acl",
	"msg": sprintf("`%s` makes a bucket public: %s", [address(rc), what]),
	"path": path,
	"hint": public_hint,
}

deny contains result if {
	some i, rc in changing
	rc.type in {"aws_s3_bucket", "aws_s3_bucket_acl"}
	acl := util.field(rc.change.after, "acl", null)
	acl in public_acls
	result := public_acl_result(rc, sprintf("%s/acl", [after_path(i)]), sprintf("acl `%s`", [acl]))
}

# Grants to the AllUsers or AuthenticatedUsers groups in an explicit access control policy.
deny contains result if {
	some i, rc in changing
	rc.type == "aws_s3_bucket_acl"
	some k, policy in list(util.field(rc.change.after, "access_control_policy", []))
	some g, grant in list(util.field(policy, "grant", []))
	some grantee in list(util.field(grant, "grantee", []))
	uri := util.field(grantee, "uri", "")
	is_string(uri)
	some group in ["/global/AllUsers", "/global/AuthenticatedUsers"]
	endswith(uri, group)
	result := public_acl_result(rc, sprintf("%s/access_control_policy/%d/grant/%d", [after_path(i), k, g]), sprintf("a grant to `%s`", [uri]))
}

deny contains result if {
	some i, rc in changing
	rc.type == "azurerm_storage_container"
	access := util.field(rc.change.after, "container_access_type", null)
	access in {"blob", "container"}
	result := public_acl_result(rc, sprintf("%s/container_access_type", [after_path(i)]), sprintf("container_access_type `%s`", [access]))
}

# Every setting of an S3 public access block must stay on; one off is enough to publish data.
deny contains result if {
	some i, rc in changing
	rc.type in {"aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block"}
	some field in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
	util.field(rc.change.after, field, null) == false
	result := {
		"id": "terraform-bucket-public-access-block",
		"msg": sprintf("`%s` turns off `%s`", [address(rc), field]),
		"path": sprintf("%s/%s", [after_path(i), field]),
		"hint": "set all four of `block_public_acls`, `block_public_policy`, `ignore_public_acls` and `restrict_public_buckets` to true",
	}
}

public_members := {"allUsers", "allAuthenticatedUsers"}

gcs_public_result(rc, path, member) := {
	"id": "terraform-bucket-public-iam",
	"msg": sprintf("`%s` grants bucket access to `%s`", [address(rc), member]),
	"path": path,
	"hint": "grant the role to specific users, groups or service accounts instead",
}

deny contains result if {
	some i, rc in changing
	rc.type in {"google_storage_bucket_iam_member", "google_storage_bucket_access_control"}
	some field in ["member", "entity"]
	member := util.field(rc.change.after, field, null)
	member in public_members
	result := gcs_public_result(rc, sprintf("%s/%s", [after_path(i), field]), member)
}

deny contains result if {
	some i, rc in changing
	rc.type == "google_storage_bucket_iam_binding"
	some k, member in list(util.field(rc.change.after, "members", []))
	member in public_members
	result := gcs_public_result(rc, sprintf("%s/members/%d", [after_path(i), k]), member)
}

deny contains result if {
	some i, rc in changing
	rc.type == "google_storage_bucket_acl"
	some k, entry in list(util.field(rc.change.after, "role_entity", []))
	is_string(entry)
	some member in public_members
	endswith(entry, sprintf(":%s", [member]))
	result := gcs_public_result(rc, sprintf("%s/role_entity/%d", [after_path(i), k]), member)
}

deny contains result if {
	some i, rc in changing
	rc.type == "google_storage_bucket_iam_policy"
	data_json := util.field(rc.change.after, "policy_data", null)
	is_string(data_json)
	json.is_valid(data_json)
	policy := json.unmarshal(data_json)
	some binding in list(util.field(policy, "bindings", []))
	some member in list(util.field(binding, "members", []))
	member in public_members
	result := gcs_public_result(rc, sprintf("%s/policy_data", [after_path(i)]), member)
}

# ---------------------------------------------------------------------------------------------
# Unencrypted buckets

# An S3 bucket must be encrypted by its own `server_side_encryption_configuration` block
# (AWS provider v3) or by an `aws_s3_bucket_server_side_encryption_configuration` in the same
# plan (v4 and later). S3 now encrypts new buckets with SSE-S3 by default, but an explicit
# configuration is what an auditor can read, and what chooses a KMS key.
deny contains result if {
	some i, rc in changing
	rc.type == "aws_s3_bucket"
	not inline_encryption(rc.change.after)
	not encryption_resource_for(rc)
	result := {
		"id": "terraform-bucket-unencrypted",
		"msg": sprintf("`%s` has no server-side encryption configuration", [address(rc)]),
		"path": after_path(i),
		"hint": "add an `aws_s3_bucket_server_side_encryption_configuration` for the bucket (`sse_algorithm = \"aws:kms\"` with a customer key is best)",
	}
}

inline_encryption(after) if {
	sse := util.field(after, "server_side_encryption_configuration", null)
	is_array(sse)
	count(sse) > 0
}

# Encryption configurations the plan keeps or adds (anything but a pure delete).
encryption_configs contains rc if {
	some rc in list(input.resource_changes)
	is_object(rc)
	rc.type == "aws_s3_bucket_server_side_encryption_configuration"
	util.field(rc, ["change", "actions"], []) != ["delete"]
}

# Matched by the `bucket` attribute, when the plan knows it.
encryption_resource_for(bucket) if {
	some e in encryption_configs
	name := util.field(e, ["change", "after", "bucket"], null)
	is_string(name)
	name == util.field(bucket, ["change", "after", "bucket"], null)
}

# Matched by address: the configuration's `bucket` expression refers to this bucket, as it does
# when the bucket name is only known after apply (`bucket = aws_s3_bucket.models.id`).
encryption_resource_for(bucket) if {
	some ref in encryption_config_references
	ref.module == util.field(bucket, "module_address", "")
	ref.target in {
		sprintf("aws_s3_bucket.%s", [bucket.name]),
		sprintf("aws_s3_bucket.%s.id", [bucket.name]),
		sprintf("aws_s3_bucket.%s.bucket", [bucket.name]),
	}
}

# Matched by address when the plan has no configuration section: the same module and the same
# resource name, the usual way to write the pair. (`object.get`, not `input.configuration`
# itself, under the `not`: OPA treats a `not` over a reference to a missing field differently
# from regorus.)
encryption_resource_for(bucket) if {
	not is_object(object.get(input, "configuration", null))
	some e in encryption_configs
	util.field(e, "module_address", "") == util.field(bucket, "module_address", "")
	e.name == bucket.name
}

# References of every encryption configuration's `bucket` expression, with the module they are
# written in (`module.a.module.b`, or "" for the root module).
encryption_config_references contains {"module": module_address(path), "target": target} if {
	is_object(input.configuration)
	walk(input.configuration, [path, value])
	is_object(value)
	value.type == "aws_s3_bucket_server_side_encryption_configuration"
	some target in list(util.field(value, ["expressions", "bucket", "references"], []))
}

module_address(path) := concat(".", [sprintf("module.%v", [path[k + 1]]) |
	some k, segment in path
	segment == "module_calls"
])
