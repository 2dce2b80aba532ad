resource "random_password" "db" {
  length  = 40
  special = false # the password is embedded in a URL
}

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
  cluster_identifier              = "${local.name}-state"
  engine                          = "aurora-postgresql"
  engine_mode                     = "provisioned"
  engine_version                  = "16.6"
  database_name                   = "uploader"
  master_username                 = "uploader"
  master_password                 = random_password.db.result
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
