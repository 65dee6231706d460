# GPU nodes for gate Jobs (gpu_node_pool.enabled): an EKS managed node group on NVIDIA's AMI,
# tainted so that only what tolerates `nvidia.com/gpu` (the chart's gate Jobs) lands there, and
# labelled for the Jobs' node selector. It scales from zero.

resource "aws_eks_node_group" "gpu" {
  count           = local.gpu ? 1 : 0
  cluster_name    = var.gpu_node_pool.cluster_name
  node_group_name = "${var.release_name}-gates-gpu"
  node_role_arn   = var.gpu_node_pool.node_role_arn
  subnet_ids      = var.gpu_node_pool.subnet_ids
  instance_types  = var.gpu_node_pool.instance_types
  ami_type        = "AL2023_x86_64_NVIDIA"
  capacity_type   = "ON_DEMAND"
  labels          = local.gpu_selector
  tags            = var.tags

  scaling_config {
    min_size     = var.gpu_node_pool.min_size
    max_size     = var.gpu_node_pool.max_size
    desired_size = var.gpu_node_pool.desired_size
  }

  taint {
    key    = local.gpu_taint.key
    value  = local.gpu_taint.value
    effect = "NO_SCHEDULE"
  }

  update_config {
    max_unavailable = 1
  }

  lifecycle {
    # The cluster autoscaler moves the desired size.
    ignore_changes = [scaling_config[0].desired_size]
  }
}
