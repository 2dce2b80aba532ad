data "aws_region" "current" {}

locals {
  validate_session_name = "${local.name}-validate-session"
  # From the name, not the resource: the role's policy names them and the machine depends on it.
  validate_session_arn        = "arn:${local.partition}:states:${data.aws_region.current.name}:${local.account_id}:stateMachine:${local.validate_session_name}"
  validate_session_executions = "arn:${local.partition}:states:${data.aws_region.current.name}:${local.account_id}:execution:${local.validate_session_name}"
}

resource "aws_sfn_state_machine" "validate_session" {
  name     = local.validate_session_name
  role_arn = aws_iam_role.state_machine.arn
  definition = templatefile("${path.module}/stepfunctions/validate-session.asl.json", {
    key_prefix            = local.key_prefix
    etl_state_machine_arn = var.etl_state_machine_arn
    handoff_table         = aws_dynamodb_table.handoffs.name
  })

  # Errors only, with their input and cause: a failed session's log names the object. The
  # Distributed Maps' express children log here too (express executions keep no history).
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  # The role's policy must exist first: CreateStateMachine checks it can deliver logs.
  depends_on = [aws_iam_role_policy.state_machine]
}

# Under /aws/vendedlogs/ so the log resource policy Step Functions writes stays small.
resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.name}-validate-session"
  retention_in_days = var.log_retention_days
}

# Hand-off claims (one item per session and manifest: state, execution, times) and each
# validation's tally (`validation#<execution>`: files checked, keys listed, first problem).
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
