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
