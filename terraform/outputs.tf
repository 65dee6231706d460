output "namespace" {
  description = "The namespace tollgate runs in."
  value       = kubernetes_namespace_v1.tollgate.metadata[0].name
}

output "service" {
  description = "The in-cluster address of the API, webhooks and admission (HTTPS)."
  value       = "https://${var.release_name}.${kubernetes_namespace_v1.tollgate.metadata[0].name}.svc"
}

output "database_endpoint" {
  description = "The RDS endpoint, when managed_postgresql is enabled."
  value       = local.managed_db ? aws_db_instance.tollgate[0].endpoint : null
}

output "gpu_node_group" {
  description = "The GPU node group's name, when gpu_node_pool is enabled."
  value       = local.gpu ? aws_eks_node_group.gpu[0].node_group_name : null
}

output "gates_config" {
  description = "With gpu_node_pool enabled: the `spec.gates` of the config repo's tollgate.yaml that places gate Jobs on the GPU node group (YAML)."
  value = local.gpu ? yamlencode({
    runner = "kubernetes"
    kubernetes = {
      namespace    = kubernetes_namespace_v1.tollgate.metadata[0].name
      nodeSelector = local.gpu_selector
      tolerations  = [{ key = local.gpu_taint.key, operator = "Equal", value = local.gpu_taint.value, effect = local.gpu_taint.effect }]
      resources = {
        requests = { cpu = "2", memory = "8Gi", "nvidia.com/gpu" = 1 }
        limits   = { cpu = "4", memory = "16Gi", "nvidia.com/gpu" = 1 }
      }
      volumes      = [{ name = "cache", persistentVolumeClaim = { claimName = var.gpu_node_pool.shared_cache_claim } }]
      volumeMounts = [{ name = "cache", mountPath = "/var/cache/tollgate" }]
    }
  }) : null
}
