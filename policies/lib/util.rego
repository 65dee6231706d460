# Helpers shared by tollgate's default policy library.
#
# This package defines no `deny`, `violation` or `warn` rules, so evaluating it yields nothing;
# the kind packages (`tollgate.lib.model`, ...) import it.
package tollgate.lib.util

# A set can never come out of YAML or JSON, so it marks "absent" unambiguously.
absent := {"tollgate.lib.util/absent"}

# One JSON pointer segment, with `~` and `/` escaped as RFC 6901 says.
pointer_segment(s) := replace(replace(sprintf("%v", [s]), "~", "~0"), "/", "~1")

# The JSON pointer of a path given as a list of keys and indexes.
pointer(segments) := concat("", [sprintf("/%s", [pointer_segment(s)]) | some s in segments])

# Whether the path `segments` exists in `doc` (a null value exists).
present(doc, segments) if object.get(doc, segments, absent) != absent

# The pointer to `segments` in `doc` when it exists, else to its nearest existing parent, so
# that a report can point at the object a missing field belongs in.
nearest(doc, segments) := pointer(array.slice(segments, 0, n)) if {
	n := max({i |
		some i in numbers.range(0, count(segments))
		present(doc, array.slice(segments, 0, i))
	})
}

# True for anything that is not a string with visible characters: missing, null, "", "  ", 3.
blank(x) if not is_string(x)

blank(x) if {
	is_string(x)
	trim_space(x) == ""
}

# A value at `segments` in `doc`, or null.
get(doc, segments) := object.get(doc, segments, null)

# Containers: `registry/repo@sha256:<64 lower-case hex>`. A tag before the digest
# (`repo:1.2@sha256:...`) is allowed; the runtime ignores it and pulls by digest.
image_digest_pattern := `^[^ \t\n@]+@sha256:[0-9a-f]{64}$`

image_pinned(image) if {
	is_string(image)
	regex.match(image_digest_pattern, image)
}

# Why `image` is not pinned, as the end of a sentence; undefined when it is pinned.
image_problem(image) := "is not a string" if {
	not is_string(image)
} else := "is empty" if {
	trim_space(image) == ""
} else := "has a malformed digest (expected `@sha256:` and 64 lower-case hex digits)" if {
	contains(image, "@")
	not image_pinned(image)
} else := "uses the mutable `latest` tag instead of a digest" if {
	not contains(image, "@")
	endswith(image, ":latest")
} else := "has no tag or digest, so it means the mutable `latest` tag" if {
	not contains(image, "@")
	not image_tag(image)
} else := "is pinned by tag only; tags can be moved to other content" if {
	not contains(image, "@")
}

# An image reference has a tag when its last path component has a `:` (a registry port such as
# `registry:5000/repo` is in an earlier component).
image_tag(image) if {
	parts := split(image, "/")
	contains(parts[count(parts) - 1], ":")
}

image_hint := "pin the image by digest, `registry/repo@sha256:<digest>`; `crane digest` or `docker buildx imagetools inspect` print it"

# Whether a URI or path has a `..` segment, also percent-encoded (`%2e%2e`) or with
# backslashes. A `..` inside a name (`model..v2.pt`) is harmless and not matched.
path_traversal(uri) if {
	is_string(uri)
	regex.match(`(^|[/\\])(\.\.|%2[eE]%2[eE])([/\\?#]|$)`, uri)
}

# The document's name for messages, also when it is missing (schemas catch that separately).
name := n if {
	n := input.metadata.name
	is_string(n)
} else := "(unnamed)"

# `object.get` that also accepts a non-object (a document that fails its schema) and then gives
# `fallback`, so that a malformed document never makes a policy fail at run time.
field(x, key, fallback) := object.get(x, key, fallback) if is_object(x) else := fallback

# `x` when it is an array, else an empty one: iterating over a string is an error in Rego.
list(x) := x if is_array(x) else := []
