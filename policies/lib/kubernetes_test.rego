package tollgate.lib.kubernetes

image := "ghcr.io/acme/income-serving@sha256:3b5e8f2a9c1d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"

safe_container := {
	"name": "server",
	"image": image,
	"securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true},
	"resources": {
		"requests": {"cpu": "500m", "memory": "1Gi"},
		"limits": {"cpu": "2", "memory": "2Gi"},
	},
}

pod_spec(containers) := {"containers": containers}

deployment(spec) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "income", "namespace": "ml-prod"},
	"spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "income"}}, "spec": spec}},
}

pod_manifest(spec) := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "income"}, "spec": spec}

cronjob(spec) := {
	"apiVersion": "batch/v1",
	"kind": "CronJob",
	"metadata": {"name": "retrain"},
	"spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
}

workload(kind, spec) := {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": {"template": {"spec": spec}}}

ids(results) := {r.id | some r in results}

with_container(fields) := pod_spec([object.union(safe_container, fields)])

test_safe_deployment_passes if {
	count(deny) == 0 with input as deployment(pod_spec([safe_container]))
	count(warn) == 0 with input as deployment(pod_spec([safe_container]))
}

test_safe_workloads_of_every_kind_pass if {
	every kind in ["StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"] {
		count(deny) == 0 with input as workload(kind, pod_spec([safe_container]))
		count(warn) == 0 with input as workload(kind, pod_spec([safe_container]))
	}
	count(deny) == 0 with input as pod_manifest(pod_spec([safe_container]))
	count(deny) == 0 with input as cronjob(pod_spec([safe_container]))
}

test_other_kinds_are_ignored if {
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "income"}, "spec": {"ports": [{"port": 80}]}}
	count(deny) == 0 with input as svc
	count(warn) == 0 with input as svc
	count(deny) == 0 with input as {"kind": "Deployment", "metadata": {"name": "x"}}
	count(deny) == 0 with input as {}
}

test_unpinned_image_is_denied_for_every_kind if {
	spec := with_container({"image": "ghcr.io/acme/income-serving:1.4"})
	some r1 in deny with input as pod_manifest(spec)
	r1.id == "k8s-image-digest"
	r1.path == "/spec/containers/0/image"
	some r2 in deny with input as deployment(spec)
	r2.path == "/spec/template/spec/containers/0/image"
	some r3 in deny with input as cronjob(spec)
	r3.path == "/spec/jobTemplate/spec/template/spec/containers/0/image"
	r3.msg == "container `server` of CronJob `retrain`: image `ghcr.io/acme/income-serving:1.4` is pinned by tag only; tags can be moved to other content"
}

test_latest_and_bad_digest_are_denied if {
	some r1 in deny with input as pod_manifest(with_container({"image": "busybox:latest"}))
	contains(r1.msg, "`latest`")
	some r2 in deny with input as pod_manifest(with_container({"image": "busybox@sha256:1234"}))
	contains(r2.msg, "malformed digest")
}

test_missing_image_is_denied if {
	spec := pod_spec([object.remove(safe_container, ["image"])])
	some r in deny with input as pod_manifest(spec)
	r.id == "k8s-image-digest"
	r.path == "/spec/containers/0"
}

test_unpinned_init_container_image_warns if {
	init := object.union(safe_container, {"name": "fetch-model", "image": "curlimages/curl:8.5.0"})
	spec := {"containers": [safe_container], "initContainers": [init]}
	count(deny) == 0 with input as deployment(spec)
	results := warn with input as deployment(spec)
	count(results) == 1
	some r in results
	r.id == "k8s-init-image-digest"
	r.path == "/spec/template/spec/initContainers/0/image"
	startswith(r.msg, "init container `fetch-model` of Deployment `income`")
}

test_image_rules_stand_aside_at_admission if {
	init := object.union(safe_container, {"name": "fetch-model", "image": "curlimages/curl:8.5.0"})
	spec := {"containers": [object.union(safe_container, {"image": "busybox:latest", "securityContext": {"privileged": true}})], "initContainers": [init]}
	at_admission := object.union(deployment(spec), {"context": {"admission": {"namespace": "ml-prod", "environment": "prod"}}})
	ids(deny) == {"k8s-privileged"} with input as at_admission
	count(warn) == 0 with input as at_admission
	ids(deny) == {"k8s-image-digest", "k8s-privileged"} with input as deployment(spec)
	ids(warn) == {"k8s-init-image-digest"} with input as deployment(spec)
}

test_privileged_container_is_denied if {
	spec := with_container({"securityContext": {"privileged": true}})
	results := deny with input as deployment(spec)
	count(results) == 1
	some r in results
	r.id == "k8s-privileged"
	r.path == "/spec/template/spec/containers/0/securityContext/privileged"
	r.msg == "container `server` of Deployment `income` runs privileged"
}

test_privileged_init_container_is_denied if {
	init := object.union(safe_container, {"name": "setup", "securityContext": {"privileged": true}})
	some r in deny with input as pod_manifest({"containers": [safe_container], "initContainers": [init]})
	r.id == "k8s-privileged"
	r.path == "/spec/initContainers/0/securityContext/privileged"
}

test_privilege_escalation_must_be_false if {
	c := object.union(safe_container, {"securityContext": {"allowPrivilegeEscalation": true}})
	some r1 in deny with input as pod_manifest(pod_spec([c]))
	r1.id == "k8s-privilege-escalation"
	r1.path == "/spec/containers/0/securityContext/allowPrivilegeEscalation"
	unset := object.union(object.remove(safe_container, ["securityContext"]), {"name": "plain"})
	results := deny with input as pod_manifest(pod_spec([unset]))
	some r2 in results
	r2.id == "k8s-privilege-escalation"
	r2.path == "/spec/containers/0"
	r2.msg == "container `plain` of Pod `income` does not set `allowPrivilegeEscalation: false`"
}

test_host_namespaces_are_denied if {
	spec := object.union(pod_spec([safe_container]), {"hostNetwork": true, "hostPID": true, "hostIPC": false})
	results := deny with input as deployment(spec)
	ids(results) == {"k8s-host-namespaces"}
	{r.path | some r in results} == {"/spec/template/spec/hostNetwork", "/spec/template/spec/hostPID"}
}

test_host_namespaces_false_pass if {
	spec := object.union(pod_spec([safe_container]), {"hostNetwork": false, "hostPID": false, "hostIPC": false})
	count(deny) == 0 with input as pod_manifest(spec)
}

test_missing_resources_are_denied if {
	c := object.remove(safe_container, ["resources"])
	results := deny with input as pod_manifest(pod_spec([c]))
	count(results) == 1
	some r in results
	r.id == "k8s-resources"
	r.path == "/spec/containers/0"
	r.msg == "container `server` of Pod `income` does not set `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory`"
}

test_partial_resources_are_denied if {
	c := object.union(object.remove(safe_container, ["resources"]), {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}})
	some r in deny with input as pod_manifest(pod_spec([c]))
	r.id == "k8s-resources"
	r.path == "/spec/containers/0/resources"
	r.msg == "container `server` of Pod `income` does not set `limits.cpu`"
}

test_init_container_resources_are_required if {
	init := object.union(object.remove(safe_container, ["resources"]), {"name": "setup"})
	some r in deny with input as pod_manifest({"containers": [safe_container], "initContainers": [init]})
	r.id == "k8s-resources"
	r.path == "/spec/initContainers/0"
}

test_every_container_is_checked if {
	bad := object.union(safe_container, {"name": "sidecar", "securityContext": {"privileged": true}})
	some r in deny with input as deployment(pod_spec([safe_container, bad]))
	r.path == "/spec/template/spec/containers/1/securityContext/privileged"
}

test_run_as_non_root_unset_warns if {
	c := object.union(object.remove(safe_container, ["securityContext"]), {"securityContext": {"allowPrivilegeEscalation": false}})
	results := warn with input as pod_manifest(pod_spec([c]))
	count(results) == 1
	some r in results
	r.id == "k8s-run-as-non-root"
	r.path == "/spec/containers/0/securityContext"
}

test_run_as_non_root_at_pod_level_passes if {
	c := object.union(object.remove(safe_container, ["securityContext"]), {"securityContext": {"allowPrivilegeEscalation": false}})
	spec := object.union(pod_spec([c]), {"securityContext": {"runAsNonRoot": true}})
	count(warn) == 0 with input as deployment(spec)
}

test_container_run_as_root_overrides_pod if {
	c := object.union(safe_container, {"securityContext": {"runAsNonRoot": false}})
	spec := object.union(pod_spec([c]), {"securityContext": {"runAsNonRoot": true}})
	ids(warn) == {"k8s-run-as-non-root"} with input as pod_manifest(spec)
}

test_non_object_containers_do_not_fail if {
	count(deny) == 0 with input as pod_manifest({"containers": ["oops", null]})
	count(deny) == 0 with input as pod_manifest({"containers": null})
}

test_malformed_metadata_and_security_context_do_not_fail if {
	doc := {"kind": "Deployment", "metadata": ["x"], "spec": {"template": {"spec": {"securityContext": "x", "containers": [object.union(safe_container, {"securityContext": "x"})]}}}}
	ids(deny) == {"k8s-privilege-escalation"} with input as doc
}
