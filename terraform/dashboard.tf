# An optional dashboard of the queue, from SQS's and Lambda's metrics and those the runtime emits
# through Powertools' EMF: namespace var.metrics_namespace, dimension `service` = var.name, and a
# `task` dimension on the per-task counts (TasksSucceeded, TasksRetried, TasksDeadLettered).

locals {
  dashboard_period = 60
  # Widgets in reading order, two to a row.
  dashboard_widgets = concat(
    [
      {
        title = "Queue depth"
        stat  = "Maximum"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.queue_name, { label = "Waiting" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", local.queue_name, { label = "In flight or backing off" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesDelayed", "QueueName", local.queue_name, { label = "Delayed" }],
        ]
      },
      {
        title   = "Oldest message (seconds)"
        stat    = "Maximum"
        metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", local.queue_name, { label = "Oldest message" }]]
      },
      {
        title = "Dead-letter queue depth"
        stat  = "Maximum"
        metrics = concat(
          [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.dead_letter_queue_name, { label = "Dead letters" }]],
          # A FIFO queue's schedules dead-letter into a standard queue of their own (scheduler.tf).
          local.scheduling && var.fifo_queue ? [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.schedule_dead_letter_queue_name, { label = "Schedules' dead letters" }]] : [],
        )
      },
      {
        title = "Tasks succeeded, retried and dead-lettered"
        stat  = "Sum"
        metrics = [
          [var.metrics_namespace, "TasksSucceeded", "service", var.name, { label = "Succeeded" }],
          [var.metrics_namespace, "TasksRetried", "service", var.name, { label = "Retried" }],
          [var.metrics_namespace, "TasksDeadLettered", "service", var.name, { label = "Dead-lettered" }],
        ]
      },
    ],
    # Per task name: a SEARCH over the `task` dimension finds each task's series once it is emitted.
    [for metric in [["TasksSucceeded", "Succeeded by task"], ["TasksRetried", "Retried by task"], ["TasksDeadLettered", "Dead-lettered by task"]] : {
      title = metric[1]
      stat  = "Sum"
      metrics = [[{
        id         = "tasks"
        expression = "SEARCH('{\"${var.metrics_namespace}\",service,task} MetricName=\"${metric[0]}\" service=\"${var.name}\"', 'Sum', ${local.dashboard_period})"
        label      = ""
      }]]
    }],
    # With flow control: the starts each task's limits held back (released unrun, no attempt used).
    local.flow_control ? [for metric in [["TasksHeldBack", "Held back by a flow limit, by task"]] : {
      title = metric[1]
      stat  = "Sum"
      metrics = [[{
        id         = "tasks"
        expression = "SEARCH('{\"${var.metrics_namespace}\",service,task} MetricName=\"${metric[0]}\" service=\"${var.name}\"', 'Sum', ${local.dashboard_period})"
        label      = ""
      }]]
    }] : [],
    [
      {
        title = "Task duration (ms)"
        stat  = "Average"
        metrics = [
          [var.metrics_namespace, "TaskDuration", "service", var.name, { stat = "p50", label = "p50" }],
          [var.metrics_namespace, "TaskDuration", "service", var.name, { stat = "p99", label = "p99" }],
          [var.metrics_namespace, "TaskDuration", "service", var.name, { stat = "Maximum", label = "Maximum" }],
        ]
      },
      {
        title = "Queue time (ms)"
        stat  = "Average"
        metrics = [
          [var.metrics_namespace, "TaskQueueTime", "service", var.name, { stat = "p50", label = "p50" }],
          [var.metrics_namespace, "TaskQueueTime", "service", var.name, { stat = "p99", label = "p99" }],
        ]
      },
    ],
    local.consumer ? [
      {
        title = "Consumer runs and messages"
        stat  = "Sum"
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", local.consumer_function_name, { label = "Consumer runs" }],
          [var.metrics_namespace, "MessagesReceived", "service", var.name, { label = "Received" }],
          [var.metrics_namespace, "MessagesReleased", "service", var.name, { label = "Released" }],
          ["AWS/SQS", "NumberOfEmptyReceives", "QueueName", local.queue_name, { label = "Empty receives" }],
        ]
      },
    ] : [],
    [
      {
        title = "Worker errors and throttles"
        stat  = "Sum"
        metrics = concat(
          [
            ["AWS/Lambda", "Errors", "FunctionName", local.worker_function_name, { label = "Errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", local.worker_function_name, { label = "Throttles" }],
          ],
          local.consumer ? [[var.metrics_namespace, "WorkerInvocationsFailed", "service", var.name, { label = "Invocations failed (seen by the consumer)" }]] : [],
        )
      },
    ],
    # With priorities (priorities.tf): every priority queue's backlog and oldest message.
    local.priorities_enabled ? [
      {
        title   = "Priority queues: waiting"
        stat    = "Maximum"
        metrics = [for name, queue_name in merge({ (local.default_priority) = local.queue_name }, local.priority_queue_names) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name, { label = name }]]
      },
      {
        title   = "Priority queues: oldest message (seconds)"
        stat    = "Maximum"
        metrics = [for name, queue_name in merge({ (local.default_priority) = local.queue_name }, local.priority_queue_names) : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue_name, { label = name }]]
      },
    ] : [],
    # A standard queue is an SQS fair queue for tasks enqueued with a tenant (their MessageGroupId): SQS's
    # noisy-tenant metrics beside the whole queue's (no data while no task has a tenant).
    var.fifo_queue ? [] : [
      {
        title = "Tenants (fair queue): noisy tenants and the quiet ones' backlog"
        stat  = "Maximum"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfNoisyGroups", "QueueName", local.queue_name, { label = "Noisy tenants" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisibleInQuietGroups", "QueueName", local.queue_name, { label = "Waiting, quiet tenants" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.queue_name, { label = "Waiting, all" }],
        ]
      },
      {
        title = "Tenants (fair queue): oldest message (seconds)"
        stat  = "Maximum"
        metrics = [
          ["AWS/SQS", "ApproximateAgeOfOldestMessageInQuietGroups", "QueueName", local.queue_name, { label = "Quiet tenants" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", local.queue_name, { label = "All" }],
        ]
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = local.create && var.create_dashboard ? 1 : 0

  # Dashboards are global to the account: the region in the name keeps two regions' apart.
  dashboard_name = coalesce(var.dashboard_name, "${var.name}-${local.region}")
  dashboard_body = jsonencode({
    widgets = [for index, widget in local.dashboard_widgets : {
      type   = "metric"
      x      = (index % 2) * 12
      y      = floor(index / 2) * 6
      width  = 12
      height = 6
      properties = {
        title   = widget.title
        region  = local.region
        view    = "timeSeries"
        stacked = false
        stat    = widget.stat
        period  = local.dashboard_period
        metrics = widget.metrics
      }
    }]
  })
}
