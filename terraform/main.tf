# Installs tollgate's Helm chart (charts/tollgate) with its namespace, the references to the
# Secrets it reads, and its values; optionally an RDS for PostgreSQL store and an EKS GPU node
# group for gate Jobs. See README.md.

locals {
  managed_db   = var.managed_postgresql.enabled
  database     = local.managed_db ? "postgresql" : var.database.type
  db_secret    = local.managed_db ? kubernetes_secret_v1.database[0].metadata[0].name : var.database.existing_secret
  gpu          = var.gpu_node_pool.enabled
  chart        = coalesce(var.chart, "${path.module}/../charts/tollgate")
  gpu_taint    = { key = "nvidia.com/gpu", value = "true", effect = "NoSchedule" }
  gpu_selector = { "tollgate.dev/pool" = "gpu" }

  values = {
    replicaCount = var.replicas
    image = {
      repository = var.image.repository
      digest     = var.image.digest
      flavor     = var.image.flavor
    }
    repo = {
      url    = var.repo.url
      branch = var.repo.branch
      auth = {
        type           = var.repo.auth_type
        existingSecret = var.repo.auth_secret
      }
    }
    database = {
      type           = local.database
      existingSecret = local.database == "postgresql" ? local.db_secret : ""
    }
    auditKey = { existingSecret = var.audit_key_secret }
    github = {
      webhookSecret = { existingSecret = var.github.webhook_secret }
      appKey        = { existingSecret = var.github.app_key_secret }
    }
    tls = { mode = var.tls_mode }
    # Where the Jobs are placed is the config repo's (tollgate.yaml, `spec.gates.kubernetes`;
    # the `gates_config` output is what to put there); the chart gives the controller its side.
    gates = local.gpu ? {
      runner = "kubernetes"
      kubernetes = {
        trustedKey       = var.gpu_node_pool.trusted_key
        sharedCacheClaim = var.gpu_node_pool.shared_cache_claim
      }
    } : { runner = "inProcess" }
  }
}

# The namespace, with the restricted Pod Security Standard enforced: the chart's pods meet it.
resource "kubernetes_namespace_v1" "tollgate" {
  metadata {
    name = var.namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
      "app.kubernetes.io/part-of"          = "tollgate"
    }
  }
}

resource "helm_release" "tollgate" {
  name             = var.release_name
  namespace        = kubernetes_namespace_v1.tollgate.metadata[0].name
  create_namespace = false
  chart            = local.chart
  repository       = var.chart_repository
  version          = var.chart_version
  # The chart's values.schema.json refuses bad values before anything is applied.
  values = [yamlencode(local.values), yamlencode(var.values)]
  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 600

  depends_on = [aws_eks_node_group.gpu]
}
