package tollgate.lib.util

test_pointer_escapes_segments if {
	pointer(["spec", "a/b", "c~d", 3]) == "/spec/a~1b/c~0d/3"
	pointer([]) == ""
}

test_nearest_points_at_the_deepest_existing_parent if {
	doc := {"spec": {"card": {"limitations": null}, "versions": [{"artifact": {}}]}}
	nearest(doc, ["spec", "card", "intendedUse"]) == "/spec/card"
	nearest(doc, ["spec", "card", "limitations"]) == "/spec/card/limitations"
	nearest(doc, ["spec", "versions", 0, "artifact", "sha256"]) == "/spec/versions/0/artifact"
	nearest(doc, ["spec", "versions", 1, "artifact"]) == "/spec/versions"
	nearest(doc, ["metadata", "name"]) == ""
}

test_blank if {
	blank(null)
	blank("")
	blank(" \t")
	blank(3)
	blank(["x"])
	not blank("x")
}

test_pinned_images if {
	image_pinned("ghcr.io/acme/m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	image_pinned("localhost:5000/m:1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	not image_problem("m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
}

test_image_problems if {
	image_problem("m:1.2") == "is pinned by tag only; tags can be moved to other content"
	image_problem("m:latest") == "uses the mutable `latest` tag instead of a digest"
	image_problem("registry:5000/m") == "has no tag or digest, so it means the mutable `latest` tag"
	image_problem("m@sha256:abc") == "has a malformed digest (expected `@sha256:` and 64 lower-case hex digits)"
	image_problem("m @sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") == "has a malformed digest (expected `@sha256:` and 64 lower-case hex digits)"
	image_problem("") == "is empty"
	image_problem(null) == "is not a string"
}

test_path_traversal if {
	path_traversal("../x")
	path_traversal("a/../x")
	path_traversal("a/..")
	path_traversal(`a\..\x`)
	path_traversal("s3://b/%2e%2e/x")
	not path_traversal("a..b/x")
	not path_traversal("a/.../x")
	not path_traversal("a/..b")
	not path_traversal(3)
}

test_field_and_list_accept_anything if {
	field({"a": 1}, "a", 0) == 1
	field({"a": 1}, "b", 0) == 0
	field("x", "a", 0) == 0
	field(null, ["a", "b"], 0) == 0
	list([1]) == [1]
	list("x") == []
	list(null) == []
}

test_name_falls_back if {
	name == "m" with input as {"metadata": {"name": "m"}}
	name == "(unnamed)" with input as {"metadata": {}}
	name == "(unnamed)" with input as {}
}
