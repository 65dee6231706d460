package tollgate.lib.terraform

# Small plans in the `terraform show -json` shape; realistic full plans are exercised by
# policies/cases/terraform.yaml (copies of policies/testdata/terraform/*.plan.json).

change(type, name, after) := change_with(type, name, ["create"], after)

change_with(type, name, actions, after) := {
	"address": sprintf("%s.%s", [type, name]),
	"mode": "managed",
	"type": type,
	"name": name,
	"provider_name": "registry.terraform.io/hashicorp/aws",
	"change": {"actions": actions, "before": null, "after": after, "after_unknown": {"id": true}},
}

tf_plan(changes) := {"format_version": "1.2", "terraform_version": "1.9.8", "resource_changes": changes}

ids(results) := {r.id | some r in results}

paths(results) := {r.path | some r in results}

ingress(from_port, to_port, protocol, cidrs, v6) := {
	"cidr_blocks": cidrs, "description": "", "from_port": from_port, "ipv6_cidr_blocks": v6,
	"prefix_list_ids": [], "protocol": protocol, "security_groups": [], "self": false, "to_port": to_port,
}

sg(rules) := tf_plan([change("aws_security_group", "web", {"name": "web", "ingress": rules, "egress": [ingress(0, 0, "-1", ["0.0.0.0/0"], [])]})])

denied(p) := results if {
	results := deny with input as p
}

test_empty_plans_pass if {
	count(deny) == 0 with input as {}
	count(deny) == 0 with input as tf_plan([])
	count(deny) == 0 with input as {"format_version": "1.2", "resource_changes": null}
}

# --- aws_security_group

test_sg_ssh_from_world_is_denied if {
	results := denied(sg([ingress(443, 443, "tcp", ["0.0.0.0/0"], []), ingress(22, 22, "tcp", ["0.0.0.0/0"], [])]))
	count(results) == 1
	some r in results
	r.id == "terraform-ssh-open-to-world"
	r.path == "/resource_changes/0/change/after/ingress/1"
	r.msg == "`aws_security_group.web` opens SSH (port 22) to the internet (`0.0.0.0/0`)"
}

test_sg_port_range_covering_22_is_denied if {
	count(denied(sg([ingress(0, 1024, "tcp", ["10.0.0.0/8", "0.0.0.0/0"], [])]))) == 1
	count(denied(sg([ingress(22, 22, "6", [], ["::/0"])]))) == 1
}

test_sg_all_protocols_ignore_ports if {
	count(denied(sg([ingress(0, 0, "-1", ["0.0.0.0/0"], [])]))) == 1
	count(denied(sg([ingress(0, 0, "all", [], ["::/0"])]))) == 1
}

test_sg_both_families_are_named if {
	some r in denied(sg([ingress(22, 22, "tcp", ["0.0.0.0/0"], ["::/0"])]))
	r.msg == "`aws_security_group.web` opens SSH (port 22) to the internet (`0.0.0.0/0`, `::/0`)"
}

test_sg_safe_rules_pass if {
	count(denied(sg([ingress(22, 22, "tcp", ["10.20.0.0/16"], [])]))) == 0
	count(denied(sg([ingress(23, 1024, "tcp", ["0.0.0.0/0"], [])]))) == 0
	count(denied(sg([ingress(0, 21, "tcp", ["0.0.0.0/0"], [])]))) == 0
	count(denied(sg([ingress(22, 22, "udp", ["0.0.0.0/0"], [])]))) == 0
	count(denied(sg([ingress(22, 22, "tcp", null, null)]))) == 0
	count(denied(sg(null))) == 0
}

test_deleted_and_unchanged_resources_are_ignored if {
	open := {"name": "web", "ingress": [ingress(22, 22, "tcp", ["0.0.0.0/0"], [])]}
	count(denied(tf_plan([change_with("aws_security_group", "web", ["delete"], null)]))) == 0
	count(denied(tf_plan([change_with("aws_security_group", "web", ["no-op"], open)]))) == 0
	count(denied(tf_plan([change_with("aws_security_group", "web", ["read"], open)]))) == 0
}

test_updates_and_replacements_are_checked if {
	open := {"name": "web", "ingress": [ingress(22, 22, "tcp", ["0.0.0.0/0"], [])]}
	count(denied(tf_plan([change_with("aws_security_group", "web", ["update"], open)]))) == 1
	count(denied(tf_plan([change_with("aws_security_group", "web", ["delete", "create"], open)]))) == 1
	count(denied(tf_plan([change_with("aws_security_group", "web", ["create", "delete"], open)]))) == 1
}

# --- aws_security_group_rule

sg_rule(type, from_port, to_port, protocol, cidrs, v6) := tf_plan([change("aws_security_group_rule", "r", {
	"type": type, "from_port": from_port, "to_port": to_port, "protocol": protocol,
	"cidr_blocks": cidrs, "ipv6_cidr_blocks": v6, "self": false,
})])

test_sg_rule_ingress_ssh_is_denied if {
	results := denied(sg_rule("ingress", 22, 22, "tcp", ["0.0.0.0/0"], null))
	count(results) == 1
	paths(results) == {"/resource_changes/0/change/after"}
	count(denied(sg_rule("ingress", 0, 65535, "tcp", null, ["::/0"]))) == 1
}

test_sg_rule_egress_and_private_pass if {
	count(denied(sg_rule("egress", 22, 22, "tcp", ["0.0.0.0/0"], null))) == 0
	count(denied(sg_rule("ingress", 22, 22, "tcp", ["192.168.0.0/16"], null))) == 0
	count(denied(sg_rule("ingress", 443, 443, "tcp", ["0.0.0.0/0"], null))) == 0
}

# --- aws_vpc_security_group_ingress_rule

vpc_rule(protocol, from_port, to_port, v4, v6) := tf_plan([change("aws_vpc_security_group_ingress_rule", "ssh", {
	"ip_protocol": protocol, "from_port": from_port, "to_port": to_port, "cidr_ipv4": v4, "cidr_ipv6": v6,
})])

test_vpc_ingress_rule_ssh_is_denied if {
	count(denied(vpc_rule("tcp", 22, 22, "0.0.0.0/0", null))) == 1
	count(denied(vpc_rule("tcp", 22, 22, null, "::/0"))) == 1
	count(denied(vpc_rule("-1", null, null, "0.0.0.0/0", null))) == 1
}

test_vpc_ingress_rule_safe_passes if {
	count(denied(vpc_rule("tcp", 22, 22, "10.0.0.0/8", null))) == 0
	count(denied(vpc_rule("tcp", 443, 443, "0.0.0.0/0", null))) == 0
	count(denied(vpc_rule("udp", 22, 22, "0.0.0.0/0", null))) == 0
	count(denied(vpc_rule("tcp", null, null, "0.0.0.0/0", null))) == 0
}

# --- google_compute_firewall

firewall(fields) := tf_plan([change("google_compute_firewall", "fw", object.union({
	"name": "fw", "network": "default", "direction": "INGRESS", "disabled": false,
	"source_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "tcp", "ports": ["22"]}],
}, fields))])

test_gcp_firewall_ssh_is_denied if {
	results := denied(firewall({}))
	count(results) == 1
	paths(results) == {"/resource_changes/0/change/after/allow/0"}
	count(denied(firewall({"allow": [{"protocol": "tcp", "ports": ["80", "20-30"]}]}))) == 1
	count(denied(firewall({"allow": [{"protocol": "tcp", "ports": []}]}))) == 1
	count(denied(firewall({"allow": [{"protocol": "all"}]}))) == 1
	count(denied(firewall({"direction": null}))) == 1
	count(denied(firewall({"source_ranges": ["10.0.0.0/8", "::/0"]}))) == 1
}

test_gcp_firewall_safe_passes if {
	count(denied(firewall({"allow": [{"protocol": "tcp", "ports": ["443", "8000-8080"]}]}))) == 0
	count(denied(firewall({"allow": [{"protocol": "udp", "ports": ["22"]}]}))) == 0
	count(denied(firewall({"source_ranges": ["35.235.240.0/20"]}))) == 0
	count(denied(firewall({"direction": "EGRESS"}))) == 0
	count(denied(firewall({"disabled": true}))) == 0
	count(denied(firewall({"source_ranges": null}))) == 0
}

# --- azurerm_network_security_rule / _group

nsg_rule(fields) := object.union({
	"name": "ssh", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
	"source_port_range": "*", "destination_port_range": "22", "destination_port_ranges": null,
	"source_address_prefix": "*", "source_address_prefixes": null, "destination_address_prefix": "*",
}, fields)

azure(fields) := tf_plan([change("azurerm_network_security_rule", "ssh", nsg_rule(fields))])

test_azure_ssh_rule_is_denied if {
	count(denied(azure({}))) == 1
	count(denied(azure({"source_address_prefix": "Internet"}))) == 1
	count(denied(azure({"source_address_prefix": "0.0.0.0/0"}))) == 1
	count(denied(azure({"protocol": "*", "destination_port_range": "*"}))) == 1
	count(denied(azure({"destination_port_range": "1-1024"}))) == 1
	count(denied(azure({"destination_port_range": null, "destination_port_ranges": ["443", "22"]}))) == 1
	count(denied(azure({"source_address_prefix": null, "source_address_prefixes": ["10.0.0.0/8", "Internet"]}))) == 1
}

test_azure_safe_rules_pass if {
	count(denied(azure({"access": "Deny"}))) == 0
	count(denied(azure({"direction": "Outbound"}))) == 0
	count(denied(azure({"protocol": "Udp"}))) == 0
	count(denied(azure({"destination_port_range": "443"}))) == 0
	count(denied(azure({"destination_port_range": "not-a-port"}))) == 0
	count(denied(azure({"source_address_prefix": "VirtualNetwork"}))) == 0
	count(denied(azure({"source_address_prefix": "10.1.0.0/16"}))) == 0
}

test_azure_inline_security_rule_is_denied if {
	p := tf_plan([change("azurerm_network_security_group", "nsg", {"name": "nsg", "security_rule": [
		nsg_rule({"name": "https", "destination_port_range": "443"}),
		nsg_rule({}),
	]})])
	results := denied(p)
	count(results) == 1
	paths(results) == {"/resource_changes/0/change/after/security_rule/1"}
}

# --- public buckets

encrypted(name) := change("aws_s3_bucket_server_side_encryption_configuration", name, {"bucket": name, "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]})

s3(name, fields) := change("aws_s3_bucket", name, object.union({"bucket": name, "force_destroy": false}, fields))

test_public_bucket_acl_is_denied if {
	every acl in ["public-read", "public-read-write", "authenticated-read"] {
		results := denied(tf_plan([s3("b", {"acl": acl}), encrypted("b")]))
		count(results) == 1
		some r in results
		r.id == "terraform-bucket-public-acl"
		r.path == "/resource_changes/0/change/after/acl"
	}
}

test_private_bucket_acl_passes if {
	count(denied(tf_plan([s3("b", {"acl": "private"}), encrypted("b")]))) == 0
	count(denied(tf_plan([s3("b", {}), encrypted("b"), change("aws_s3_bucket_acl", "b", {"bucket": "b", "acl": "private"})]))) == 0
}

test_public_bucket_acl_resource_is_denied if {
	results := denied(tf_plan([change("aws_s3_bucket_acl", "b", {"bucket": "b", "acl": "public-read"})]))
	some r in results
	r.id == "terraform-bucket-public-acl"
	r.msg == "`aws_s3_bucket_acl.b` makes a bucket public: acl `public-read`"
}

test_public_grant_in_access_control_policy_is_denied if {
	policy := {"owner": [{"id": "abc"}], "grant": [
		{"permission": "FULL_CONTROL", "grantee": [{"type": "CanonicalUser", "id": "abc", "uri": null}]},
		{"permission": "READ", "grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}]},
	]}
	results := denied(tf_plan([change("aws_s3_bucket_acl", "b", {"bucket": "b", "acl": null, "access_control_policy": [policy]})]))
	count(results) == 1
	paths(results) == {"/resource_changes/0/change/after/access_control_policy/0/grant/1"}
}

test_public_access_block_settings_off_are_denied if {
	pab := change("aws_s3_bucket_public_access_block", "b", {"bucket": "b", "block_public_acls": false, "block_public_policy": true, "ignore_public_acls": false, "restrict_public_buckets": true})
	results := denied(tf_plan([pab]))
	ids(results) == {"terraform-bucket-public-access-block"}
	paths(results) == {"/resource_changes/0/change/after/block_public_acls", "/resource_changes/0/change/after/ignore_public_acls"}
	account := change("aws_s3_account_public_access_block", "acct", {"block_public_acls": true, "block_public_policy": false, "ignore_public_acls": true, "restrict_public_buckets": true})
	count(denied(tf_plan([account]))) == 1
}

test_public_access_block_all_on_or_unknown_passes if {
	on := change("aws_s3_bucket_public_access_block", "b", {"bucket": "b", "block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true})
	unknown := change("aws_s3_bucket_public_access_block", "c", {"block_public_acls": null})
	count(denied(tf_plan([on, unknown]))) == 0
}

test_gcs_public_members_are_denied if {
	member := change("google_storage_bucket_iam_member", "m", {"bucket": "d", "role": "roles/storage.objectViewer", "member": "allUsers"})
	binding := change("google_storage_bucket_iam_binding", "b", {"bucket": "d", "role": "roles/storage.objectViewer", "members": ["user:a@example.com", "allAuthenticatedUsers"]})
	acl := change("google_storage_bucket_acl", "a", {"bucket": "d", "role_entity": ["OWNER:project-owners-1", "READER:allUsers"]})
	access := change("google_storage_bucket_access_control", "c", {"bucket": "d", "role": "READER", "entity": "allUsers"})
	policy := change("google_storage_bucket_iam_policy", "p", {"bucket": "d", "policy_data": json.marshal({"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]})})
	results := denied(tf_plan([member, binding, acl, access, policy]))
	ids(results) == {"terraform-bucket-public-iam"}
	paths(results) == {
		"/resource_changes/0/change/after/member",
		"/resource_changes/1/change/after/members/1",
		"/resource_changes/2/change/after/role_entity/1",
		"/resource_changes/3/change/after/entity",
		"/resource_changes/4/change/after/policy_data",
	}
}

test_gcs_private_members_pass if {
	member := change("google_storage_bucket_iam_member", "m", {"bucket": "d", "role": "roles/storage.objectViewer", "member": "serviceAccount:gates@p.iam.gserviceaccount.com"})
	policy := change("google_storage_bucket_iam_policy", "p", {"bucket": "d", "policy_data": "not json"})
	count(denied(tf_plan([member, policy]))) == 0
}

test_azure_public_container_is_denied if {
	c := change("azurerm_storage_container", "c", {"name": "models", "container_access_type": "blob"})
	ids(denied(tf_plan([c]))) == {"terraform-bucket-public-acl"}
	private := change("azurerm_storage_container", "c", {"name": "models", "container_access_type": "private"})
	count(denied(tf_plan([private]))) == 0
}

# --- unencrypted buckets

test_unencrypted_bucket_is_denied if {
	results := denied(tf_plan([s3("b", {})]))
	count(results) == 1
	some r in results
	r.id == "terraform-bucket-unencrypted"
	r.path == "/resource_changes/0/change/after"
	r.msg == "`aws_s3_bucket.b` has no server-side encryption configuration"
}

test_inline_encryption_passes if {
	sse := [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}]
	count(denied(tf_plan([s3("b", {"server_side_encryption_configuration": sse})]))) == 0
	count(denied(tf_plan([s3("b", {"server_side_encryption_configuration": []})]))) == 1
}

test_encryption_matched_by_bucket_attribute if {
	other := change("aws_s3_bucket_server_side_encryption_configuration", "x", {"bucket": "b", "rule": []})
	count(denied(tf_plan([s3("b", {}), other]))) == 0
}

test_encryption_of_another_bucket_does_not_count if {
	other := change("aws_s3_bucket_server_side_encryption_configuration", "x", {"bucket": "other", "rule": []})
	count(denied(tf_plan([s3("b", {}), other]))) == 1
}

test_deleted_encryption_does_not_count if {
	gone := change_with("aws_s3_bucket_server_side_encryption_configuration", "b", ["delete"], null)
	count(denied(tf_plan([s3("b", {}), gone]))) == 1
}

test_unchanged_encryption_counts if {
	kept := change_with("aws_s3_bucket_server_side_encryption_configuration", "y", ["no-op"], {"bucket": "b", "rule": []})
	count(denied(tf_plan([change_with("aws_s3_bucket", "b", ["update"], {"bucket": "b"}), kept]))) == 0
}

test_encryption_matched_by_same_name_without_configuration if {
	sse := change("aws_s3_bucket_server_side_encryption_configuration", "logs", {"rule": []})
	bucket := change("aws_s3_bucket", "logs", {"bucket_prefix": "logs-"})
	count(denied(tf_plan([bucket, sse]))) == 0
}

test_encryption_matched_by_configuration_reference if {
	sse := change("aws_s3_bucket_server_side_encryption_configuration", "enc", {"rule": []})
	bucket := change("aws_s3_bucket", "logs", {"bucket_prefix": "logs-"})
	configuration := {"root_module": {"resources": [{
		"address": "aws_s3_bucket_server_side_encryption_configuration.enc",
		"mode": "managed",
		"type": "aws_s3_bucket_server_side_encryption_configuration",
		"name": "enc",
		"expressions": {"bucket": {"references": ["aws_s3_bucket.logs.id", "aws_s3_bucket.logs"]}},
	}]}}
	count(denied(object.union(tf_plan([bucket, sse]), {"configuration": configuration}))) == 0
}

test_configuration_reference_respects_modules if {
	sse := object.union(change("aws_s3_bucket_server_side_encryption_configuration", "enc", {"rule": []}), {"address": "module.a.aws_s3_bucket_server_side_encryption_configuration.enc", "module_address": "module.a"})
	bucket := change("aws_s3_bucket", "logs", {"bucket_prefix": "logs-"})
	in_module := object.union(bucket, {"address": "module.a.aws_s3_bucket.logs", "module_address": "module.a"})
	configuration := {"root_module": {"module_calls": {"a": {"source": "./a", "module": {"resources": [{
		"address": "aws_s3_bucket_server_side_encryption_configuration.enc",
		"type": "aws_s3_bucket_server_side_encryption_configuration",
		"name": "enc",
		"expressions": {"bucket": {"references": ["aws_s3_bucket.logs.id", "aws_s3_bucket.logs"]}},
	}]}}}}}

	# The bucket in the module is matched; a root bucket of the same name is not.
	count(denied(object.union(tf_plan([in_module, sse]), {"configuration": configuration}))) == 0
	results := denied(object.union(tf_plan([bucket, sse]), {"configuration": configuration}))
	ids(results) == {"terraform-bucket-unencrypted"}
}

test_module_address_of_nested_modules if {
	module_address(["root_module", "module_calls", "a", "module", "module_calls", "b", "module", "resources", 0]) == "module.a.module.b"
	module_address(["root_module", "resources", 3]) == ""
}

test_malformed_changes_do_not_fail if {
	p := {"resource_changes": [
		null,
		"x",
		{"type": "aws_security_group", "change": {"actions": "create", "after": {}}},
		change("aws_security_group", "a", {"ingress": [null, "x"]}),
		change("aws_s3_bucket_acl", "b", {"access_control_policy": [null, {"grant": [null, {"grantee": "x"}]}]}),
		change("google_storage_bucket_iam_policy", "p", {"policy_data": "[1, 2]"}),
		change("google_compute_firewall", "f", {"allow": [null], "source_ranges": ["0.0.0.0/0"]}),
	], "configuration": "x"}
	count(denied(p)) == 0
}
