# Something needs a look: a task gave up, messages wait too long, the worker fails or is throttled.
# SQS stops sending metrics for a queue that has been idle for hours, hence notBreaching.

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue_not_empty" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name}-dead-letter-queue-not-empty"
  alarm_description = "Messages are waiting in the dead-letter queue ${local.dead_letter_queue_name}: tasks that failed for good, with the reason."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions  = { QueueName = aws_sqs_queue.dead_letter_queue.name }
  statistic   = "Maximum"
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name}-oldest-message-age"
  alarm_description = "The oldest message in ${local.queue_name} is older than ${var.alarm_oldest_message_age_seconds} seconds: tasks are not keeping up, or keep failing."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateAgeOfOldestMessage"
  dimensions  = { QueueName = aws_sqs_queue.this.name }
  statistic   = "Maximum"
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.alarm_oldest_message_age_seconds
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_errors" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name}-worker-errors"
  alarm_description = "The worker ${local.worker_function_name} failed: an invocation raised, timed out or ran out of memory."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions  = { FunctionName = aws_lambda_function.worker.function_name }
  statistic   = "Sum"
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_throttles" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name}-worker-throttles"
  alarm_description = "Invocations of the worker ${local.worker_function_name} were throttled: its concurrency is too low for the load."

  namespace   = "AWS/Lambda"
  metric_name = "Throttles"
  dimensions  = { FunctionName = aws_lambda_function.worker.function_name }
  statistic   = "Sum"
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}
