output "bucket_name" {
  description = "upload.s3_bucket of the agent."
  value       = aws_s3_bucket.data.bucket
}

output "s3_prefix" {
  description = "upload.s3_prefix of the agent (normalised)."
  value       = local.key_prefix
}

output "ecr_repository_url" {
  description = "Push agent images here, tagged with the commit SHA."
  value       = aws_ecr_repository.agent.repository_url
}

output "ecs_cluster_name" {
  description = "For `aws ecs wait services-stable --cluster`."
  value       = aws_ecs_cluster.agent.name
}

output "ecs_service_name" {
  description = "For `aws ecs wait services-stable --services`."
  value       = aws_ecs_service.agent.name
}

output "task_definition_arn" {
  description = "Task definition this apply registered; the deploy checks the service runs it."
  value       = aws_ecs_task_definition.agent.arn
}

output "agent_log_group" {
  description = "CloudWatch log group of the agent."
  value       = aws_cloudwatch_log_group.agent.name
}

output "state_machine_arn" {
  description = "Validation state machine started by each _COMPLETE."
  value       = aws_sfn_state_machine.validate_session.arn
}

output "events_dlq_url" {
  description = "_COMPLETE events EventBridge could not deliver."
  value       = aws_sqs_queue.events_dlq.url
}

output "database_url_secret_arn" {
  description = "Put the agent role's DATABASE_URL here once (docs/deployment.md); Terraform creates it empty."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "db_master_secret_arn" {
  description = "RDS-managed secret of the master user: for creating the agent's role through the Data API, never for the agent."
  value       = aws_rds_cluster.state.master_user_secret[0].secret_arn
}

output "db_cluster_arn" {
  description = "Aurora cluster ARN (--resource-arn of `aws rds-data execute-statement`)."
  value       = aws_rds_cluster.state.arn
}

output "ts_authkey_secret_arn" {
  description = "Put the Tailscale auth key here before the first deploy."
  value       = aws_secretsmanager_secret.ts_authkey.arn
}

output "db_endpoint" {
  description = "Aurora writer endpoint (reachable from the agent security group only)."
  value       = aws_rds_cluster.state.endpoint
}

output "launch_type" {
  description = "FARGATE (userspace Tailscale, nfs:// roots) or EC2 (kernel Tailscale and mounts)."
  value       = var.launch_type
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm; subscribe on-call here."
  value       = aws_sns_topic.alarms.arn
}
