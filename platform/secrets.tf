# The agent's full DATABASE_URL. The password lives in this secret and in the Terraform state
# (keep the state bucket encrypted and restricted); it never appears in the task definition.
resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${local.name}/database-url"
  description             = "DATABASE_URL of the lab-data-uploader agent (Aurora, TLS verify-full)"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id = aws_secretsmanager_secret.database_url.id
  secret_string = format(
    "postgresql://%s:%s@%s:%d/%s?sslmode=verify-full&sslrootcert=%s",
    aws_rds_cluster.state.master_username,
    random_password.db.result,
    aws_rds_cluster.state.endpoint,
    aws_rds_cluster.state.port,
    aws_rds_cluster.state.database_name,
    "/etc/ssl/certs/rds-global-bundle.pem",
  )
}

# Tailscale auth key: the value is set out of band (docs/deployment.md) so it never enters
# the Terraform state.
resource "aws_secretsmanager_secret" "ts_authkey" {
  name                    = "${local.name}/ts-authkey"
  description             = "Tailscale auth key (reusable, ephemeral, tagged) of the lab-data-uploader agent"
  recovery_window_in_days = 7
}
