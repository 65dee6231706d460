package tollgate.lib.dataset

good := {
	"apiVersion": "tollgate.dev/v1alpha1",
	"kind": "Dataset",
	"metadata": {"name": "adult-eval"},
	"spec": {
		"uri": "data/adult-eval.csv",
		"sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
		"format": "csv",
		"schema": {"columns": [
			{"name": "age", "type": "integer"},
			{"name": "sex", "type": "category", "pii": true},
			{"name": "race", "type": "category"},
			{"name": "income", "type": "category"},
		]},
		"label": "income",
		"sensitiveFeatures": ["sex", "race"],
		"lineage": {"source": "UCI Machine Learning Repository, Adult data set (1994 census)"},
	},
}

ids(results) := {r.id | some r in results}

with_spec(fields) := object.union(good, {"spec": fields})

with_columns(cols) := with_spec({"schema": {"columns": cols}})

col(name) := {"name": name, "type": "string"}

# The column names flagged as personal data among `names`.
flagged(names) := {n |
	some i, r in deny with input as with_columns([col(n) | some n in names])
	r.id == "dataset-pii-unmarked"
	n := names[to_number(split(r.path, "/")[4])]
}

test_good_dataset_passes if {
	count(deny) == 0 with input as good
}

test_missing_sha256_is_denied if {
	results := deny with input as json.remove(good, ["spec/sha256"])
	count(results) == 1
	some r in results
	r.id == "dataset-sha256"
	r.path == "/spec"
	r.msg == "dataset `adult-eval` does not pin its data by `sha256`"
}

test_malformed_sha256_is_denied if {
	results := deny with input as with_spec({"sha256": "sha256:2c26b46b"})
	count(results) == 1
	some r in results
	r.id == "dataset-sha256"
	r.path == "/spec/sha256"
}

test_missing_lineage_is_denied if {
	results := deny with input as json.remove(good, ["spec/lineage"])
	count(results) == 1
	some r in results
	r.id == "dataset-lineage-source"
	r.path == "/spec"
}

test_lineage_without_source_is_denied if {
	doc := object.union(json.remove(good, ["spec/lineage"]), {"spec": {"lineage": {"derivedFrom": [{"dataset": "adult-raw"}]}}})
	results := deny with input as doc
	some r in results
	r.id == "dataset-lineage-source"
	r.path == "/spec/lineage"
}

test_blank_lineage_source_is_denied if {
	some r in deny with input as with_spec({"lineage": {"source": "  "}})
	r.id == "dataset-lineage-source"
	r.path == "/spec/lineage/source"
}

test_http_uri_is_denied if {
	results := deny with input as with_spec({"uri": "http://example.com/adult.csv"})
	ids(results) == {"dataset-insecure-uri"}
	some r in results
	r.path == "/spec/uri"
}

test_dot_dot_uri_is_denied if {
	ids(deny) == {"dataset-path-traversal"} with input as with_spec({"uri": "data/../../secrets.csv"})
}

test_safe_uris_pass if {
	count(deny) == 0 with input as with_spec({"uri": "https://archive.ics.uci.edu/adult.csv"})
	count(deny) == 0 with input as with_spec({"uri": "s3://datasets/adult/eval.parquet"})
}

test_personal_data_names_are_flagged if {
	names := [
		"email", "e_mail", "E-Mail", "emailAddress", "contact_email", "phone", "phone_number",
		"mobileNumber", "telephone", "ssn", "social_security_number", "SocialSecurity", "name",
		"first_name", "lastName", "FullName", "surname", "username", "user_name", "customer_name",
		"address", "street", "home_address", "zip", "zip_code", "postcode", "postal_code",
		"dob", "date_of_birth", "birth_date", "birthDate", "ip", "ip_address", "IPAddress",
		"client_ip", "ipv4", "passport", "passport_number", "credit_card", "card_number",
		"creditCardNumber", "iban", "bank_account", "national_id", "tax_id", "drivers_license",
		"address2", "latitude",
	]
	flagged(names) == {n | some n in names}
}

test_ordinary_names_are_not_flagged if {
	names := [
		"filename", "file_name", "hostname", "product_name", "model_name", "feature_name",
		"age", "workclass", "education_num", "marital_status", "occupation", "relationship",
		"race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
		"income", "zipper_size", "tip_amount", "shipping_days", "description", "emailed_count_total",
		"recipient_type", "membership_days", "ipsum", "cardinality", "nameservers",
	]
	count(flagged(names)) == 0
}

test_pii_column_message_and_path if {
	results := deny with input as with_columns([col("age"), {"name": "email", "type": "string"}])
	count(results) == 1
	some r in results
	r.id == "dataset-pii-unmarked"
	r.path == "/spec/schema/columns/1"
	r.msg == "column `email` of dataset `adult-eval` looks like personal data (email address) but has no `pii` field"
	contains(r.hint, "`pii: true`")
	contains(r.hint, "`pii: false`")
}

test_several_kinds_are_listed if {
	some r in deny with input as with_columns([col("customer_email_address")])
	r.msg == "column `customer_email_address` of dataset `adult-eval` looks like personal data (email address, postal address) but has no `pii` field"
}

test_explicit_pii_true_passes if {
	count(deny) == 0 with input as with_columns([{"name": "email", "type": "string", "pii": true}])
}

test_explicit_pii_false_after_review_passes if {
	count(deny) == 0 with input as with_columns([{"name": "street", "type": "category", "pii": false, "description": "street type: avenue, road, ..."}])
}

test_pii_null_counts_as_missing if {
	ids(deny) == {"dataset-pii-unmarked"} with input as with_columns([{"name": "email", "type": "string", "pii": null}])
}

test_pii_sensitive_feature_and_label_are_fine if {
	doc := with_spec({
		"schema": {"columns": [
			{"name": "date_of_birth", "type": "string", "pii": true},
			{"name": "email", "type": "string", "pii": true},
		]},
		"label": "email",
		"sensitiveFeatures": ["date_of_birth"],
	})
	count(deny) == 0 with input as doc
}

test_missing_schema_does_not_fail if {
	count(deny) == 0 with input as json.remove(good, ["spec/schema"])
}

test_document_without_spec_is_denied_without_failing if {
	doc := {"apiVersion": "tollgate.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "x"}}
	ids(deny) == {"dataset-sha256", "dataset-lineage-source"} with input as doc
}

test_malformed_columns_do_not_fail if {
	doc := object.union(good, {"spec": {"schema": {"columns": [null, "email", {"name": 3}, {"type": "string"}]}}})
	count(deny) == 0 with input as doc
}
