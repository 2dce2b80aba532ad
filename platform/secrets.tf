# The agent's DATABASE_URL, for its own least-privilege role. Created empty: the operator
# creates the role and puts the URL once (docs/deployment.md, "The agent's database role"),
# so the password never passes through Terraform or its state. Tasks cannot start until then.
resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${local.name}/database-url"
  description             = "DATABASE_URL of the lab-data-uploader agent's own role (Aurora, TLS verify-full); set by an operator"
  recovery_window_in_days = 7
}

# Tailscale auth key: the value is set out of band (docs/deployment.md) so it never enters
# the Terraform state.
resource "aws_secretsmanager_secret" "ts_authkey" {
  name                    = "${local.name}/ts-authkey"
  description             = "Tailscale auth key (reusable, ephemeral, tagged) of the lab-data-uploader agent"
  recovery_window_in_days = 7
}

# Deployments made before the managed master password kept the master's URL in a version
# Terraform owned: forget it (without deleting it, so running tasks keep working) until the
# operator puts the agent role's URL over it.
removed {
  from = aws_secretsmanager_secret_version.database_url

  lifecycle {
    destroy = false
  }
}
