# Something needs a look: a task gave up, messages wait too long, the worker fails or is throttled.
# SQS stops sending metrics for a queue that has been idle for hours, hence notBreaching.

locals {
  alarms = {
    dead_letter_queue_not_empty = {
      description = "Messages are waiting in the dead-letter queue ${local.dead_letter_queue_name}: tasks that failed for good, with the reason."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.dead_letter_queue.name }
      statistic   = "Maximum"
      comparison  = "GreaterThanThreshold"
      threshold   = 0
    }
    oldest_message_age = {
      description = "The oldest message in ${local.queue_name} is older than ${var.alarm_oldest_message_age_seconds} seconds: tasks are not keeping up, or keep failing."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateAgeOfOldestMessage"
      dimensions  = { QueueName = aws_sqs_queue.this.name }
      statistic   = "Maximum"
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = var.alarm_oldest_message_age_seconds
    }
    worker_errors = {
      description = "The worker ${local.worker_function_name} failed: an invocation raised, timed out or ran out of memory."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.worker.function_name }
      statistic   = "Sum"
      comparison  = "GreaterThanThreshold"
      threshold   = 0
    }
    worker_throttles = {
      description = "Invocations of the worker ${local.worker_function_name} were throttled: its concurrency is too low for the load."
      namespace   = "AWS/Lambda"
      metric_name = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.worker.function_name }
      statistic   = "Sum"
      comparison  = "GreaterThanThreshold"
      threshold   = 0
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.create_alarms ? local.alarms : {}

  alarm_name        = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description = each.value.description

  namespace   = each.value.namespace
  metric_name = each.value.metric_name
  dimensions  = each.value.dimensions
  statistic   = each.value.statistic
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions

  tags = var.tags
}
