resource "aws_sfn_state_machine" "validate_session" {
  name     = "${local.name}-validate-session"
  role_arn = aws_iam_role.state_machine.arn
  definition = templatefile("${path.module}/stepfunctions/validate-session.asl.json", {
    key_prefix            = local.key_prefix
    etl_state_machine_arn = var.etl_state_machine_arn
    handoff_table         = aws_dynamodb_table.handoffs.name
  })
}

# One item per session and manifest that was handed off (the state machine's idempotency key).
resource "aws_dynamodb_table" "handoffs" {
  name         = "${local.name}-handoffs"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}
