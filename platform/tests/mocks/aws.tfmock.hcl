# Offline stand-ins for what AWS would compute. Overrides apply at plan time (the test files set
# override_during = plan) so the assertions can compare ARNs and decode the task definition.

# Policy JSON is rendered by the provider; its statements are asserted on the data sources'
# arguments instead, and the roles only need a JSON object here.
mock_data "aws_iam_policy_document" {
  defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
}

mock_data "aws_caller_identity" {
  defaults = { account_id = "111111111111" }
}

mock_data "aws_partition" {
  defaults = { partition = "aws" }
}

override_resource {
  target = aws_s3_bucket.data
  values = { arn = "arn:aws:s3:::lab-data-bucket" }
}

override_resource {
  target = aws_kms_key.data
  values = { arn = "arn:aws:kms:ca-central-1:111111111111:key/data" }
}

override_resource {
  target = aws_sfn_state_machine.validate_session
  values = { arn = "arn:aws:states:ca-central-1:111111111111:stateMachine:validate-session" }
}

override_resource {
  target = aws_secretsmanager_secret.database_url
  values = { arn = "arn:aws:secretsmanager:ca-central-1:111111111111:secret:database-url-AbCdEf" }
}

override_resource {
  target = aws_secretsmanager_secret.ts_authkey
  values = { arn = "arn:aws:secretsmanager:ca-central-1:111111111111:secret:ts-authkey-AbCdEf" }
}

override_resource {
  target = aws_rds_cluster.state
  values = {
    arn                = "arn:aws:rds:ca-central-1:111111111111:cluster:state"
    master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:ca-central-1:111111111111:secret:rds!cluster-master-AbCdEf", kms_key_id = "", secret_status = "active" }]
  }
}

override_resource {
  target = aws_ecr_repository.agent
  values = {
    arn            = "arn:aws:ecr:ca-central-1:111111111111:repository/agent"
    repository_url = "111111111111.dkr.ecr.ca-central-1.amazonaws.com/agent"
  }
}

override_resource {
  target = aws_iam_role.events
  values = { arn = "arn:aws:iam::111111111111:role/events" }
}

override_resource {
  target = aws_iam_role.task
  values = { arn = "arn:aws:iam::111111111111:role/task" }
}

override_resource {
  target = aws_iam_role.execution
  values = { arn = "arn:aws:iam::111111111111:role/execution" }
}

override_resource {
  target = aws_autoscaling_group.agent
  values = { arn = "arn:aws:autoscaling:ca-central-1:111111111111:autoScalingGroup:agent" }
}

override_resource {
  target = aws_cloudwatch_log_group.agent
  values = { arn = "arn:aws:logs:ca-central-1:111111111111:log-group:agent" }
}
