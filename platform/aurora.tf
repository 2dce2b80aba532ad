resource "aws_db_subnet_group" "state" {
  name       = "${local.name}-state"
  subnet_ids = var.private_subnet_ids
}

resource "aws_rds_cluster_parameter_group" "state" {
  name   = "${local.name}-state"
  family = "aurora-postgresql16"

  # Refuse unencrypted connections server-side as well.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "aws_rds_cluster" "state" {
  cluster_identifier = "${local.name}-state"
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned"
  engine_version     = "16.6"
  database_name      = "uploader"
  # Renaming the master user would replace the cluster; the agent logs in as its own role
  # (docs/deployment.md, "The agent's database role"), never as this one.
  master_username = "uploader"
  # RDS generates and rotates the password in a Secrets Manager secret of its own: it is
  # never in the Terraform state, the task definition or the agent's environment.
  manage_master_user_password = true
  # The RDS Data API runs the one-time SQL that creates the agent's role without a network
  # path into the VPC; callers need rds-data and this cluster's master secret.
  enable_http_endpoint            = var.db_data_api
  db_subnet_group_name            = aws_db_subnet_group.state.name
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.state.name
  vpc_security_group_ids          = [aws_security_group.db.id]
  storage_encrypted               = true
  backup_retention_period         = 14
  preferred_backup_window         = "07:00-08:00"
  copy_tags_to_snapshot           = true
  deletion_protection             = var.db_deletion_protection
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${local.name}-state-final"

  serverlessv2_scaling_configuration {
    min_capacity = var.db_min_acu
    max_capacity = var.db_max_acu
  }
}

resource "aws_rds_cluster_instance" "state" {
  identifier          = "${local.name}-state-1"
  cluster_identifier  = aws_rds_cluster.state.id
  instance_class      = "db.serverless"
  engine              = aws_rds_cluster.state.engine
  engine_version      = aws_rds_cluster.state.engine_version
  publicly_accessible = false
}
