variable "namespace" {
  description = "The namespace tollgate runs in; created by this module with the restricted Pod Security Standard enforced."
  type        = string
  default     = "tollgate-system"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "release_name" {
  description = "The Helm release's name (also the name of its objects)."
  type        = string
  default     = "tollgate"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$", var.release_name))
    error_message = "release_name must be a DNS label of at most 53 characters."
  }
}

variable "chart" {
  description = "The chart: a path (default: this repository's charts/tollgate) or a name in `chart_repository`."
  type        = string
  default     = null
}

variable "chart_repository" {
  description = "A Helm repository URL or OCI registry holding the chart, when `chart` is a name."
  type        = string
  default     = null
}

variable "chart_version" {
  description = "The chart version, with `chart_repository`."
  type        = string
  default     = null
}

variable "image" {
  description = "The controller's image: repository, digest (`sha256:<64 hex>`, recommended: tollgate's own policies want images pinned) and flavor (`slim` or `torch`)."
  type = object({
    repository = string
    digest     = optional(string, "")
    flavor     = optional(string, "slim")
  })
  validation {
    condition     = can(regex("^(sha256:[0-9a-f]{64})?$", var.image.digest))
    error_message = "image.digest must be empty or sha256: followed by 64 lower-case hex digits."
  }
  validation {
    condition     = contains(["slim", "torch"], var.image.flavor)
    error_message = "image.flavor must be \"slim\" (no libtorch) or \"torch\" (libtorch for CPU and CUDA)."
  }
}

variable "repo" {
  description = "The config repo: its URL, branch, and credentials from an existing Secret in `namespace` (`auth_type` token or sshKey)."
  type = object({
    url         = string
    branch      = optional(string, "")
    auth_type   = optional(string, "none")
    auth_secret = optional(string, "")
  })
  validation {
    condition     = can(regex("^(https://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:).+", var.repo.url))
    error_message = "repo.url must be an https://, ssh:// or user@host:path URL."
  }
  validation {
    condition     = contains(["none", "token", "sshKey"], var.repo.auth_type)
    error_message = "repo.auth_type must be one of none, token, sshKey."
  }
  validation {
    condition     = var.repo.auth_type == "none" || var.repo.auth_secret != ""
    error_message = "repo.auth_secret must name the Secret holding the credentials when repo.auth_type is token or sshKey."
  }
}

variable "audit_key_secret" {
  description = "The existing Secret in `namespace` holding the audit trail's checkpoint signing key (key `key`)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", var.audit_key_secret))
    error_message = "audit_key_secret must name a Secret (a DNS subdomain)."
  }
}

variable "github" {
  description = "Existing Secrets in `namespace` with GitHub's webhook secret (key `webhook-secret`) and the GitHub App's private key (key `private-key.pem`); empty: not used."
  type = object({
    webhook_secret = optional(string, "")
    app_key_secret = optional(string, "")
  })
  default = {}
}

variable "replicas" {
  description = "Controller replicas; more than one needs PostgreSQL (`database.type = \"postgresql\"` or `managed_postgresql`)."
  type        = number
  default     = 1
  validation {
    condition     = var.replicas >= 1 && var.replicas <= 10 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number from 1 to 10."
  }
  validation {
    condition     = var.replicas == 1 || var.database.type == "postgresql"
    error_message = "SQLite is one file on one volume: more than one replica needs database.type = \"postgresql\"."
  }
}

variable "database" {
  description = "The store: `sqlite` (a volume, one replica) or `postgresql`, whose URL is in `existing_secret` (key `url`) unless `managed_postgresql` creates it."
  type = object({
    type            = optional(string, "sqlite")
    existing_secret = optional(string, "")
  })
  default = {}
  validation {
    condition     = contains(["sqlite", "postgresql"], var.database.type)
    error_message = "database.type must be \"sqlite\" or \"postgresql\"."
  }
}

variable "managed_postgresql" {
  description = "An Amazon RDS for PostgreSQL instance for the store, reachable only from `allowed_security_group_ids`; its URL goes into a Secret the chart reads."
  type = object({
    enabled                    = bool
    vpc_id                     = optional(string, "")
    subnet_ids                 = optional(list(string), [])
    allowed_security_group_ids = optional(list(string), [])
    instance_class             = optional(string, "db.t4g.medium")
    allocated_storage_gb       = optional(number, 50)
    engine_version             = optional(string, "17")
    multi_az                   = optional(bool, true)
    backup_retention_days      = optional(number, 14)
    kms_key_arn                = optional(string, null)
    monitoring_role_arn        = optional(string, null)
  })
  default = { enabled = false }
  validation {
    condition     = !var.managed_postgresql.enabled || (var.managed_postgresql.vpc_id != "" && length(var.managed_postgresql.subnet_ids) >= 2 && length(var.managed_postgresql.allowed_security_group_ids) >= 1)
    error_message = "managed_postgresql needs vpc_id, at least two subnet_ids (in two zones) and at least one allowed_security_group_id (the cluster's nodes)."
  }
  validation {
    condition     = var.managed_postgresql.allocated_storage_gb >= 20 && var.managed_postgresql.allocated_storage_gb <= 65536
    error_message = "managed_postgresql.allocated_storage_gb must be from 20 to 65536."
  }
  validation {
    condition     = var.managed_postgresql.backup_retention_days >= 7 && var.managed_postgresql.backup_retention_days <= 35
    error_message = "managed_postgresql.backup_retention_days must be from 7 to 35: the audit trail lives there."
  }
}

variable "gpu_node_pool" {
  description = "An EKS managed node group of GPU nodes for gate Jobs (tainted `nvidia.com/gpu=true:NoSchedule`); the chart's gate runner is then `kubernetes`, placed on it."
  type = object({
    enabled        = bool
    cluster_name   = optional(string, "")
    node_role_arn  = optional(string, "")
    subnet_ids     = optional(list(string), [])
    instance_types = optional(list(string), ["g5.xlarge"])
    min_size       = optional(number, 0)
    max_size       = optional(number, 2)
    desired_size   = optional(number, 0)
    # The public half of the key gate Jobs sign results with (`tollgate audit keygen`).
    trusted_key = optional(string, "")
    # An existing ReadWriteMany claim in `namespace` (EFS, Filestore…) shared by the controller
    # and the Jobs at /var/cache/tollgate.
    shared_cache_claim = optional(string, "")
  })
  default = { enabled = false }
  validation {
    condition     = !var.gpu_node_pool.enabled || (var.gpu_node_pool.cluster_name != "" && var.gpu_node_pool.node_role_arn != "" && length(var.gpu_node_pool.subnet_ids) >= 1 && var.gpu_node_pool.trusted_key != "" && var.gpu_node_pool.shared_cache_claim != "")
    error_message = "gpu_node_pool needs cluster_name, node_role_arn, at least one subnet_id, trusted_key and shared_cache_claim."
  }
  validation {
    condition     = var.gpu_node_pool.min_size >= 0 && var.gpu_node_pool.min_size <= var.gpu_node_pool.desired_size && var.gpu_node_pool.desired_size <= var.gpu_node_pool.max_size && var.gpu_node_pool.max_size >= 1
    error_message = "gpu_node_pool sizes must satisfy 0 <= min_size <= desired_size <= max_size, max_size >= 1."
  }
}

variable "tls_mode" {
  description = "Where the serving certificate comes from: certManager (needs cert-manager in the cluster) or generated (by Helm, kept across upgrades)."
  type        = string
  default     = "certManager"
  validation {
    condition     = contains(["certManager", "generated"], var.tls_mode)
    error_message = "tls_mode must be \"certManager\" or \"generated\"."
  }
}

variable "values" {
  description = "Further chart values (see docs/reference/helm-values.md), merged over what the module sets."
  type        = any
  default     = {}
}

variable "tags" {
  description = "Tags for the AWS resources."
  type        = map(string)
  default     = {}
}
