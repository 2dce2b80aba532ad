# The wiring that matters in either launch type: events to the state machine, least-privilege
# IAM, secrets by ARN only, the database's managed password, backlog autoscaling.
# Run with -var-file=vars/<env>.tfvars (both use s3_prefix "raw").

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "wiring" {
  command = plan

  # events start the validation state machine
  assert {
    condition = (aws_cloudwatch_event_target.validate_session.arn == aws_sfn_state_machine.validate_session.arn
      && aws_cloudwatch_event_target.validate_session.rule == aws_cloudwatch_event_rule.session_complete.name
    && aws_cloudwatch_event_target.validate_session.role_arn == aws_iam_role.events.arn)
    error_message = "The _COMPLETE rule must target the validation state machine through the events role."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.session_complete.event_pattern).detail.bucket.name == [var.bucket_name]
    error_message = "The rule must match this environment's bucket."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.events.statement : [s.actions, s.resources]] == [
      [toset(["states:StartExecution"]), toset([aws_sfn_state_machine.validate_session.arn])]
    ]
    error_message = "EventBridge may only start the validation state machine."
  }

  # task role is least privilege
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.task.statement : tolist(s.actions)])) == toset(concat(
      ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      var.sse_kms ? ["kms:GenerateDataKey", "kms:Decrypt"] : [],
    ))
    error_message = "The task role's actions changed: ${jsonencode(data.aws_iam_policy_document.task.statement[*].actions)}"
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.task.statement :
      (s.effect == null || s.effect == "Allow") && !anytrue([for x in concat(tolist(s.actions), tolist(s.resources)) : x == "*" || endswith(x, ":*")])
    ])
    error_message = "The task role allows only named actions on named resources."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.task.statement :
      s.resources == toset(["${aws_s3_bucket.data.arn}/${var.s3_prefix}/*"])
      if length(setsubtract(s.actions, ["s3:ListBucket", "s3:ListBucketMultipartUploads"])) > 0 && anytrue([for a in s.actions : startswith(a, "s3:")])
    ])
    error_message = "Object actions (read, write, delete) apply only under the data prefix."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.task.statement : s.resources if anytrue([for a in s.actions : startswith(a, "s3:Delete")])] == [
      toset(["${aws_s3_bucket.data.arn}/${var.s3_prefix}/*"])
    ]
    error_message = "The agent may delete objects only under the data prefix (leftovers of aborted attempts), never versions."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.task.statement : s.condition if contains(s.actions, "s3:ListBucket")]) == jsonencode([
      [{ test = "StringLike", variable = "s3:prefix", values = ["${var.s3_prefix}/*"] }]
    ])
    error_message = "Listing is limited to the data prefix: ${jsonencode([for s in data.aws_iam_policy_document.task.statement : s.condition if contains(s.actions, "s3:ListBucket")])}"
  }

  # execution role reads only the agent secrets
  assert {
    condition = [for s in data.aws_iam_policy_document.execution.statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")] == [
      toset([aws_secretsmanager_secret.database_url.arn, aws_secretsmanager_secret.ts_authkey.arn])
    ]
    error_message = "ECS may read exactly the agent's DATABASE_URL and Tailscale secrets (never the master secret)."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.execution.statement :
    s.actions == toset(["ecr:GetAuthorizationToken"]) if contains(s.resources, "*")])
    error_message = "\"*\" is only for ecr:GetAuthorizationToken, which has no resource-level permissions."
  }

  # secrets reach the task by ARN only
  assert {
    condition = jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].secrets == [
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
      { name = "TS_AUTHKEY", valueFrom = aws_secretsmanager_secret.ts_authkey.arn },
    ]
    error_message = "DATABASE_URL and TS_AUTHKEY must come from Secrets Manager by ARN."
  }

  assert {
    condition = length(setintersection(
      [for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name],
      ["DATABASE_URL", "TS_AUTHKEY", "PGPASSWORD"],
    )) == 0
    error_message = "No secret may be a plain environment value."
  }

  assert {
    condition     = !strcontains(aws_ecs_task_definition.agent.container_definitions, aws_rds_cluster.state.master_user_secret[0].secret_arn) && !strcontains(aws_ecs_task_definition.agent.container_definitions, "postgres")
    error_message = "The task must not see the master secret or any database URL."
  }

  assert {
    condition     = aws_ecs_task_definition.agent.task_role_arn == aws_iam_role.task.arn && aws_ecs_task_definition.agent.execution_role_arn == aws_iam_role.execution.arn
    error_message = "The task runs with the task role; ECS starts it with the execution role."
  }

  # the master password is managed by RDS, never in the state
  assert {
    condition     = aws_rds_cluster.state.manage_master_user_password == true && aws_rds_cluster.state.master_password == null
    error_message = "The master password must be RDS-managed in Secrets Manager, never in the Terraform state."
  }

  assert {
    condition     = aws_rds_cluster.state.storage_encrypted == true && aws_rds_cluster.state.enable_http_endpoint == var.db_data_api
    error_message = "The cluster is encrypted; the Data API follows db_data_api."
  }

  # service scales on the backlog
  assert {
    condition = (aws_appautoscaling_target.agent.resource_id == "service/${aws_ecs_cluster.agent.name}/${aws_ecs_service.agent.name}"
      && aws_appautoscaling_target.agent.scalable_dimension == "ecs:service:DesiredCount"
    && aws_appautoscaling_target.agent.min_capacity == var.min_tasks && aws_appautoscaling_target.agent.max_capacity == var.max_tasks)
    error_message = "The service's desired count must scale between min_tasks and max_tasks."
  }

  assert {
    condition     = aws_ecs_service.agent.desired_count == var.min_tasks
    error_message = "The service starts at min_tasks."
  }

  assert {
    condition = (aws_appautoscaling_policy.backlog.policy_type == "TargetTrackingScaling"
    && aws_appautoscaling_policy.backlog.target_tracking_scaling_policy_configuration[0].target_value == var.sessions_per_task)
    error_message = "Target tracking at sessions_per_task."
  }

  assert {
    condition = jsonencode({
      for m in aws_appautoscaling_policy.backlog.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.id => {
        expression  = m.expression
        return_data = m.return_data
        metric      = join("/", flatten([for st in m.metric_stat : [for x in st.metric : [x.namespace, x.metric_name]]]))
        dimensions  = merge(flatten([for st in m.metric_stat : [for x in st.metric : [for d in x.dimensions : { (d.name) = d.value }]]])...)
      }
      }) == jsonencode({
      waiting = {
        expression = null, return_data = false, metric = "LabDataUploader/SessionsWaiting"
        dimensions = { LabId = var.agent.lab_id, MachineId = var.agent.machine_id }
      }
      tasks = {
        expression = null, return_data = false, metric = "ECS/ContainerInsights/RunningTaskCount"
        dimensions = { ClusterName = aws_ecs_cluster.agent.name, ServiceName = aws_ecs_service.agent.name }
      }
      per_task = { expression = "waiting / IF(tasks >= 1, tasks, 1)", return_data = true, metric = "", dimensions = {} }
    })
    error_message = "The policy must track the agent's SessionsWaiting per running task: ${jsonencode(aws_appautoscaling_policy.backlog.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics)}"
  }

  # deploys overlap and drain
  assert {
    condition = (jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].stopTimeout > 25
    && jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].stopTimeout <= 120)
    error_message = "stopTimeout must fit the agent's 25 s drain (and Fargate's 120 s maximum)."
  }

  assert {
    condition = (aws_ecs_service.agent.deployment_maximum_percent == 200 && aws_ecs_service.agent.deployment_minimum_healthy_percent == 100
    && aws_ecs_service.agent.deployment_circuit_breaker[0].enable && aws_ecs_service.agent.deployment_circuit_breaker[0].rollback)
    error_message = "New tasks start before old ones stop, and a failing deployment rolls back."
  }
}

run "runs_the_promoted_digest" {
  command = plan

  variables {
    image_digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].image == "${aws_ecr_repository.agent.repository_url}@${var.image_digest}"
    error_message = "With image_digest the task must run exactly that image, not whatever the tag names."
  }
}
