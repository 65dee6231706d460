# tollgate on an existing EKS cluster: three replicas on a managed PostgreSQL, GitHub App
# promotions, and gate Jobs on a GPU node group that scales from zero.
#
#   terraform init && terraform plan -out plan && terraform show -json plan > plan.json
#
# The Secrets named below are created beforehand (kubectl create secret …), never here: their
# values do not belong in Terraform's state.

terraform {
  required_version = ">= 1.9.0"
}

provider "aws" {
  region = "eu-central-1"
}

data "aws_eks_cluster" "ml" {
  name = "ml-prod"
}

data "aws_eks_cluster_auth" "ml" {
  name = "ml-prod"
}

provider "kubernetes" {
  host                   = data.aws_eks_cluster.ml.endpoint
  cluster_ca_certificate = base64decode(data.aws_eks_cluster.ml.certificate_authority[0].data)
  token                  = data.aws_eks_cluster_auth.ml.token
}

provider "helm" {
  kubernetes = {
    host                   = data.aws_eks_cluster.ml.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.ml.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.ml.token
  }
}

module "tollgate" {
  source = "../.."

  namespace = "tollgate-system"
  replicas  = 3
  image = {
    repository = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/tollgate"
    digest     = "sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    flavor     = "torch"
  }
  repo = {
    url         = "https://github.com/acme/ml-config.git"
    branch      = "main"
    auth_type   = "token"
    auth_secret = "tollgate-git"
  }
  audit_key_secret = "tollgate-audit-key"
  github = {
    webhook_secret = "tollgate-github"
    app_key_secret = "tollgate-github"
  }
  database = { type = "postgresql" }
  managed_postgresql = {
    enabled                    = true
    vpc_id                     = "vpc-0a1b2c3d4e5f60718"
    subnet_ids                 = ["subnet-0a1b2c3d4e5f60701", "subnet-0a1b2c3d4e5f60702"]
    allowed_security_group_ids = ["sg-0a1b2c3d4e5f60718"]
    kms_key_arn                = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
  }
  gpu_node_pool = {
    enabled       = true
    cluster_name  = "ml-prod"
    node_role_arn = "arn:aws:iam::123456789012:role/ml-prod-nodes"
    subnet_ids    = ["subnet-0a1b2c3d4e5f60701", "subnet-0a1b2c3d4e5f60702"]
    max_size      = 2
    # `tollgate audit keygen --name tollgate-gates`; the private half is in the Secret the
    # Jobs mount (tollgate.yaml, `spec.gates.kubernetes.volumes`).
    trusted_key        = "tollgate-gates+2f5a3b2f+Ab1RqaYaa36JcSNF5p4NF13QoYMtV5iVkiR/Js40WbWM"
    shared_cache_claim = "tollgate-shared-cache"
  }
  values = {
    serviceMonitor = { enabled = true, labels = { release = "prometheus" } }
  }
  tags = { team = "ml-platform" }
}

output "service" {
  value = module.tollgate.service
}
