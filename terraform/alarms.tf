# Something needs a look: a task gave up, messages wait too long, a function fails or is throttled.
# SQS stops sending metrics for a queue that has been idle for hours, hence notBreaching.

locals {
  lambda_alarms = merge(
    {
      worker_errors = {
        description = "The worker ${local.worker_function_name} failed: an invocation raised, timed out or ran out of memory."
        function    = local.worker_function_name
        metric_name = "Errors"
        threshold   = var.alarm_worker_errors_threshold
      }
      worker_throttles = {
        description = "Invocations of the worker ${local.worker_function_name} were throttled: its concurrency is too low for the load."
        function    = local.worker_function_name
        metric_name = "Throttles"
        threshold   = var.alarm_worker_throttles_threshold
      }
    },
    local.consumer ? {
      consumer_errors = {
        description = "The consumer ${local.consumer_function_name} failed: a run raised (a misconfiguration or a missing permission), timed out or ran out of memory."
        function    = local.consumer_function_name
        metric_name = "Errors"
        threshold   = var.alarm_consumer_errors_threshold
      }
    } : {},
  )

  alarms = merge(
    {
      dead_letter_queue_not_empty = {
        description = "Messages are waiting in the dead-letter queue ${local.dead_letter_queue_name}: tasks that failed for good, with the reason."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = local.dead_letter_queue_name }
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = var.alarm_dead_letter_queue_messages_threshold
      }
      oldest_message_age = {
        description = "The oldest message in ${local.queue_name} is older than ${var.alarm_oldest_message_age_seconds} seconds: tasks are not keeping up, or keep failing."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateAgeOfOldestMessage"
        dimensions  = { QueueName = local.queue_name }
        statistic   = "Maximum"
        comparison  = "GreaterThanOrEqualToThreshold"
        threshold   = var.alarm_oldest_message_age_seconds
      }
    },
    # Each other priority's queue (priorities.tf): its own oldest-message alarm.
    { for name, queue_name in local.priority_queue_names : "oldest_message_age_${name}" => {
      description = "The oldest message in ${queue_name} (priority ${name}) is older than ${var.alarm_oldest_message_age_seconds} seconds: tasks are not keeping up, or keep failing."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateAgeOfOldestMessage"
      dimensions  = { QueueName = queue_name }
      statistic   = "Maximum"
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = var.alarm_oldest_message_age_seconds
    } },
    # A FIFO queue's schedules dead-letter into a standard queue of their own (scheduler.tf).
    local.scheduling && var.fifo_queue ? {
      schedule_dead_letter_queue_not_empty = {
        description = "Tasks a schedule could not deliver are waiting in ${local.schedule_dead_letter_queue_name}, with the Scheduler's reason."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = local.schedule_dead_letter_queue_name }
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = var.alarm_dead_letter_queue_messages_threshold
      }
    } : {},
    {
      # Counted by the worker's handler in both trigger modes (a batch or the consumer's start probe).
      worker_cannot_start = {
        description = "The worker ${local.worker_function_name} cannot start (its task modules fail to import, or its configuration is bad): no task runs. Its log's \"worker cannot start\" line has the error in full."
        namespace   = var.metrics_namespace
        metric_name = "WorkerStartFailed"
        dimensions  = { service = var.name }
        statistic   = "Sum"
        comparison  = "GreaterThanThreshold"
        threshold   = 0
      }
    },
    { for key, alarm in local.lambda_alarms : key => {
      description = alarm.description
      namespace   = "AWS/Lambda"
      metric_name = alarm.metric_name
      dimensions  = { FunctionName = alarm.function }
      statistic   = "Sum"
      comparison  = "GreaterThanThreshold"
      threshold   = alarm.threshold
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.create && var.create_alarms ? local.alarms : {}

  alarm_name        = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description = each.value.description

  namespace   = each.value.namespace
  metric_name = each.value.metric_name
  dimensions  = each.value.dimensions
  statistic   = each.value.statistic
  period      = var.alarm_period_seconds

  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"

  alarm_actions             = var.alarm_actions
  ok_actions                = var.ok_actions
  insufficient_data_actions = var.insufficient_data_actions

  tags = var.tags

  # The queues and functions exist before anything watches them.
  depends_on = [aws_sqs_queue.this, aws_sqs_queue.dead_letter_queue, module.worker, module.consumer]

  lifecycle {
    precondition {
      condition     = var.alarm_datapoints_to_alarm == null || try(var.alarm_datapoints_to_alarm <= var.alarm_evaluation_periods, false)
      error_message = "alarm_datapoints_to_alarm (${coalesce(var.alarm_datapoints_to_alarm, 0)}) must not exceed alarm_evaluation_periods (${var.alarm_evaluation_periods}): an alarm cannot need more breaching periods than it looks at."
    }
  }
}
