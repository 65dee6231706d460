# Default policies for Kubernetes workloads (input: one manifest found by `spec.manifests`):
# images pinned by digest, no privileges beyond a normal process, and declared resources.
package tollgate.lib.kubernetes

import data.tollgate.lib.util

# Where each workload kind keeps its pod spec (a chain of comparisons: an object literal here
# would be built anew for every document, and this runs for every workload a cluster admits).
pod_path := ["spec"] if {
	input.kind == "Pod"
} else := ["spec", "template", "spec"] if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
} else := ["spec", "jobTemplate", "spec", "template", "spec"] if {
	input.kind == "CronJob"
} else := ["template", "spec"] if {
	input.kind == "PodTemplate"
}

pod := p if {
	p := object.get(input, pod_path, null)
	is_object(p)
}

kind_name := sprintf("%s `%s`", [input.kind, util.field(util.field(input, "metadata", {}), "name", "(unnamed)")])

# Every container with where it is: `field` is `containers` or `initContainers`. Plain
# references (undefined, never an error, on a malformed manifest) keep this cheap: it runs for
# every workload a cluster admits.
containers contains {"field": field, "index": i, "container": container} if {
	some field in ["containers", "initContainers"]
	list := pod[field]
	is_array(list)
	some i, container in list
	is_object(container)
}

# The JSON pointer segments of a container.
segments(c) := array.concat(pod_path, [c.field, c.index])

container_name(c) := n if {
	n := c.container.name
} else := sprintf("%s[%d]", [c.field, c.index])

label(c) := sprintf("container `%s`", [container_name(c)]) if c.field == "containers"

label(c) := sprintf("init container `%s`", [container_name(c)]) if c.field == "initContainers"

# Images pinned by digest: deny for the containers that serve, warn for init containers (they
# run briefly, but with the pod's service account and volumes). At admission tollgate's own rule
# judges every image first (`image-not-pinned`, naming what is promoted there), so these two
# rules stand aside there (`input.context.admission` is set only by tollgate's admission).
deny contains result if {
	not input.context.admission
	some c in containers
	c.field == "containers"
	image := util.field(c.container, "image", null)
	problem := util.image_problem(image)
	result := {
		"id": "k8s-image-digest",
		"msg": sprintf("%s of %s: image `%v` %s", [label(c), kind_name, image, problem]),
		"path": util.nearest(input, array.concat(segments(c), ["image"])),
		"hint": util.image_hint,
	}
}

warn contains result if {
	not input.context.admission
	some c in containers
	c.field == "initContainers"
	image := util.field(c.container, "image", null)
	problem := util.image_problem(image)
	result := {
		"id": "k8s-init-image-digest",
		"msg": sprintf("%s of %s: image `%v` %s", [label(c), kind_name, image, problem]),
		"path": util.nearest(input, array.concat(segments(c), ["image"])),
		"hint": util.image_hint,
	}
}

# A privileged container has every capability and every device of the node.
deny contains result if {
	some c in containers
	c.container.securityContext.privileged == true
	result := {
		"id": "k8s-privileged",
		"msg": sprintf("%s of %s runs privileged", [label(c), kind_name]),
		"path": util.pointer(array.concat(segments(c), ["securityContext", "privileged"])),
		"hint": "remove `privileged: true`; grant the single capability needed, if any, under `securityContext.capabilities.add`",
	}
}

# Kubernetes allows escalation (setuid binaries, file capabilities) unless told otherwise, so the
# setting must be present and false.
deny contains result if {
	some c in containers
	object.get(c.container, ["securityContext", "allowPrivilegeEscalation"], null) != false
	result := {
		"id": "k8s-privilege-escalation",
		"msg": sprintf("%s of %s does not set `allowPrivilegeEscalation: false`", [label(c), kind_name]),
		"path": util.nearest(input, array.concat(segments(c), ["securityContext", "allowPrivilegeEscalation"])),
		"hint": "set `securityContext.allowPrivilegeEscalation: false` on the container",
	}
}

# Sharing the node's network, process or IPC namespace lets the pod see and reach the node's
# other workloads.
deny contains result if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod[field] == true
	result := {
		"id": "k8s-host-namespaces",
		"msg": sprintf("%s shares the node's namespace: `%s: true`", [kind_name, field]),
		"path": util.pointer(array.concat(pod_path, [field])),
		"hint": sprintf("remove `%s: true`", [field]),
	}
}

# Requests let the scheduler place the pod; limits keep it from starving its neighbours (and a
# GPU node's other models) of CPU and memory.
deny contains result if {
	some c in containers
	not all_resources(c.container)
	missing := [sprintf("`%s.%s`", [section, resource]) |
		some section in ["requests", "limits"]
		some resource in ["cpu", "memory"]
		not has_resource(c.container, section, resource)
	]
	count(missing) > 0
	result := {
		"id": "k8s-resources",
		"msg": sprintf("%s of %s does not set %s", [label(c), kind_name, concat(", ", missing)]),
		"path": util.nearest(input, array.concat(segments(c), ["resources"])),
		"hint": "set `resources.requests` and `resources.limits`, each with `cpu` and `memory`",
	}
}

# All four set, said with references alone (the usual case, so the list above is rarely built).
all_resources(container) if {
	r := container.resources
	r.requests.cpu != null
	r.requests.cpu != ""
	r.requests.memory != null
	r.requests.memory != ""
	r.limits.cpu != null
	r.limits.cpu != ""
	r.limits.memory != null
	r.limits.memory != ""
}

has_resource(container, section, resource) if {
	value := util.field(container, ["resources", section, resource], null)
	value != null
	value != ""
}

# Running as root inside the container makes every container escape a root escape. The
# container's setting wins over the pod's, as in Kubernetes.
warn contains result if {
	some c in containers
	not runs_as_non_root(c)
	result := {
		"id": "k8s-run-as-non-root",
		"msg": sprintf("%s of %s may run as root", [label(c), kind_name]),
		"path": util.nearest(input, array.concat(segments(c), ["securityContext", "runAsNonRoot"])),
		"hint": "set `securityContext.runAsNonRoot: true` on the pod or the container, and a non-zero `runAsUser` if the image has no numeric user",
	}
}

runs_as_non_root(c) if c.container.securityContext.runAsNonRoot == true

# Unset (or null) on the container: the pod's setting holds. (`object.get`, not `not` over a
# reference that may be missing, which OPA and regorus read differently.)
runs_as_non_root(c) if {
	object.get(c.container, ["securityContext", "runAsNonRoot"], null) == null
	pod.securityContext.runAsNonRoot == true
}
