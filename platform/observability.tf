resource "aws_sns_topic" "alarms" {
  name = "${local.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# The agent logs one JSON line per event; session_failed carries "to": failed | needs_attention.
resource "aws_cloudwatch_log_metric_filter" "session_failed" {
  name           = "${local.name}-session-failed"
  log_group_name = aws_cloudwatch_log_group.agent.name
  pattern        = "{ $.event = \"session_failed\" }"

  metric_transformation {
    name          = "SessionFailed"
    namespace     = "LabDataUploader/${var.environment}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "needs_attention" {
  name           = "${local.name}-needs-attention"
  log_group_name = aws_cloudwatch_log_group.agent.name
  pattern        = "{ $.to = \"needs_attention\" }"

  metric_transformation {
    name          = "SessionNeedsAttention"
    namespace     = "LabDataUploader/${var.environment}"
    value         = "1"
    default_value = "0"
  }
}

# Failures are retried with backoff, so alert on a burst rather than on one transient error.
resource "aws_cloudwatch_metric_alarm" "session_failed" {
  alarm_name          = "${local.name}-sessions-failing"
  alarm_description   = "Session uploads keep failing (see session_failed events in ${aws_cloudwatch_log_group.agent.name})"
  namespace           = "LabDataUploader/${var.environment}"
  metric_name         = "SessionFailed"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "needs_attention" {
  alarm_name          = "${local.name}-session-needs-attention"
  alarm_description   = "A session needs an operator: fix the cause, then run `uploader-agent retry`"
  namespace           = "LabDataUploader/${var.environment}"
  metric_name         = "SessionNeedsAttention"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "validation_failed" {
  alarm_name          = "${local.name}-validation-failed"
  alarm_description   = "A session failed validation against its manifest or its ETL hand-off"
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.validate_session.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "events_dead_letters" {
  alarm_name          = "${local.name}-undelivered-complete-events"
  alarm_description   = "EventBridge could not start validation for some _COMPLETE events (see the DLQ)"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.events_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "agent_not_running" {
  alarm_name          = "${local.name}-agent-not-running"
  alarm_description   = "No agent task is running (mount or Tailscale failure at start? see the log group)"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = aws_ecs_cluster.agent.name, ServiceName = aws_ecs_service.agent.name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
