# Least privilege. The only "*" resource is ecr:GetAuthorizationToken in the execution role:
# that action has no resource-level permissions.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- task role: what the agent itself may do ------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "WriteAndVerifySessionObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      # Objects an aborted attempt left that the final manifest does not list; versioning keeps the bytes.
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.data.arn}/${local.key_prefix}*"]
  }

  statement {
    sid       = "ListUnderPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.key_prefix}*"]
    }
  }

  statement {
    sid       = "FindInterruptedMultipartUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.data.arn]
  }

  dynamic "statement" {
    for_each = var.sse_kms ? [1] : []
    content {
      sid       = "UseBucketKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.data[0].arn]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "session-upload"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# --- execution role: what ECS needs to start the task --------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullAgentImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.agent.arn]
  }

  statement {
    sid       = "WriteAgentLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.agent.arn}:*"]
  }

  statement {
    sid     = "ReadAgentSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.database_url.arn,
      aws_secretsmanager_secret.ts_authkey.arn,
    ]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-agent"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# --- EventBridge: may only start the validation state machine ------------------------------

resource "aws_iam_role" "events" {
  name = "${local.name}-events"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "events.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartValidation"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.validate_session.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "start-validation"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

# --- state machine: reads the bucket, records hand-offs, starts the ETL --------------------

resource "aws_iam_role" "state_machine" {
  name = "${local.name}-validate-session"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "states.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

data "aws_iam_policy_document" "state_machine" {
  # HeadObject of every file, and the Distributed Map's read of manifest.json.
  statement {
    sid       = "ReadSessionObjects"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.key_prefix}*"]
  }

  # Lists a session's keys, and lets HeadObject answer 404 (missing) instead of 403.
  statement {
    sid       = "ListUnderPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.key_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = var.sse_kms ? [1] : []
    content {
      sid       = "DecryptSessionObjects"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.data[0].arn]
    }
  }

  statement {
    sid       = "RecordHandOffsAndTallies"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.handoffs.arn]
  }

  # The Distributed Maps start their child executions of this same state machine.
  statement {
    sid       = "RunDistributedMaps"
    actions   = ["states:StartExecution"]
    resources = [local.validate_session_arn]
  }

  # Child executions (name/…), and its own executions (name:…) whose claim is checked.
  statement {
    sid       = "FollowOwnExecutions"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = ["${local.validate_session_executions}/*", "${local.validate_session_executions}:*"]
  }

  # CloudWatch Logs delivery: these actions have no resource-level permissions.
  statement {
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.etl_state_machine_arn == "" ? [] : [1]
    content {
      sid       = "StartEtl"
      actions   = ["states:StartExecution"]
      resources = [var.etl_state_machine_arn]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "validate-session"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# --- EC2 container instances (launch_type EC2 only) -----------------------------------------

resource "aws_iam_role" "instance" {
  count = local.ec2 ? 1 : 0
  name  = "${local.name}-instance"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
}

# AWS-managed: registers the instance with the cluster. SSM core allows shell access without SSH.
resource "aws_iam_role_policy_attachment" "instance_ecs" {
  count      = local.ec2 ? 1 : 0
  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_role_policy_attachment" "instance_ssm" {
  count      = local.ec2 ? 1 : 0
  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  count = local.ec2 ? 1 : 0
  name  = "${local.name}-instance"
  role  = aws_iam_role.instance[0].name
}

moved {
  from = aws_iam_role.instance
  to   = aws_iam_role.instance[0]
}

moved {
  from = aws_iam_role_policy_attachment.instance_ecs
  to   = aws_iam_role_policy_attachment.instance_ecs[0]
}

moved {
  from = aws_iam_role_policy_attachment.instance_ssm
  to   = aws_iam_role_policy_attachment.instance_ssm[0]
}

moved {
  from = aws_iam_instance_profile.instance
  to   = aws_iam_instance_profile.instance[0]
}
