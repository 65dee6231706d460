# The store on Amazon RDS for PostgreSQL (managed_postgresql.enabled): private, encrypted,
# reachable on 5432 from the cluster's security groups only. Its URL is written to a Secret in
# the release's namespace, which the chart reads (database.existingSecret); the password is in
# Terraform's state (mark the state as sensitive and keep it encrypted).

resource "random_password" "database" {
  count   = local.managed_db ? 1 : 0
  length  = 32
  special = false
}

resource "aws_db_subnet_group" "tollgate" {
  count       = local.managed_db ? 1 : 0
  name        = "${var.release_name}-store"
  description = "tollgate's store"
  subnet_ids  = var.managed_postgresql.subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "database" {
  count       = local.managed_db ? 1 : 0
  name        = "${var.release_name}-store"
  description = "tollgate's store: PostgreSQL from the cluster only"
  vpc_id      = var.managed_postgresql.vpc_id
  tags        = var.tags

  ingress {
    description     = "PostgreSQL from the cluster's nodes"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = var.managed_postgresql.allowed_security_group_ids
  }
}

resource "aws_db_parameter_group" "tollgate" {
  count       = local.managed_db ? 1 : 0
  name        = "${var.release_name}-store"
  family      = "postgres${var.managed_postgresql.engine_version}"
  description = "tollgate's store: TLS only, connections and slow statements logged"
  tags        = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "tollgate" {
  count                               = local.managed_db ? 1 : 0
  identifier                          = "${var.release_name}-store"
  engine                              = "postgres"
  engine_version                      = var.managed_postgresql.engine_version
  instance_class                      = var.managed_postgresql.instance_class
  allocated_storage                   = var.managed_postgresql.allocated_storage_gb
  max_allocated_storage               = var.managed_postgresql.allocated_storage_gb * 4
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = var.managed_postgresql.kms_key_arn
  db_name                             = "tollgate"
  username                            = "tollgate"
  password                            = random_password.database[0].result
  db_subnet_group_name                = aws_db_subnet_group.tollgate[0].name
  vpc_security_group_ids              = [aws_security_group.database[0].id]
  parameter_group_name                = aws_db_parameter_group.tollgate[0].name
  publicly_accessible                 = false
  multi_az                            = var.managed_postgresql.multi_az
  backup_retention_period             = var.managed_postgresql.backup_retention_days
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.release_name}-store-final"
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.managed_postgresql.kms_key_arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  # Enhanced monitoring needs an IAM role the platform team owns.
  monitoring_interval = var.managed_postgresql.monitoring_role_arn == null ? 0 : 60
  monitoring_role_arn = var.managed_postgresql.monitoring_role_arn
  tags                                = var.tags
}

resource "kubernetes_secret_v1" "database" {
  count = local.managed_db ? 1 : 0
  metadata {
    name      = "${var.release_name}-database"
    namespace = kubernetes_namespace_v1.tollgate.metadata[0].name
  }
  data = {
    url = "postgres://tollgate:${random_password.database[0].result}@${aws_db_instance.tollgate[0].address}:${aws_db_instance.tollgate[0].port}/tollgate?sslmode=require"
  }
}
