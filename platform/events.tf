# S3 "Object Created" for .../_COMPLETE -> the validation state machine, at least once.
resource "aws_cloudwatch_event_rule" "session_complete" {
  name          = "${local.name}-session-complete"
  description   = "A lab session's _COMPLETE marker was written"
  event_pattern = templatefile("${path.module}/events/complete-object.pattern.json", { bucket_name = aws_s3_bucket.data.bucket })
}

resource "aws_cloudwatch_event_target" "validate_session" {
  rule     = aws_cloudwatch_event_rule.session_complete.name
  arn      = aws_sfn_state_machine.validate_session.arn
  role_arn = aws_iam_role.events.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

# Events EventBridge could not deliver after the retries above; alarmed in observability.tf.
resource "aws_sqs_queue" "events_dlq" {
  name                      = "${local.name}-session-complete-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "events_dlq" {
  statement {
    sid       = "EventBridgeRuleOnly"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.session_complete.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.events_dlq.json
}
