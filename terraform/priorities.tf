# Priorities (var.priorities): one queue per priority, all with the module's one dead-letter queue.
#
# The default priority keeps the module's own queue (aws_sqs_queue.this, its address and name
# unchanged), so adding priorities to a deployed queue replaces nothing; every other priority gets
# aws_sqs_queue.priority["<name>"], named "<name>-<priority>". Behind the consumer, it receives from
# them in var.priority_order (taskqueue/priorities.py); behind event source mappings, each queue has a
# mapping, whose MaximumConcurrency is its weight's share of event_source_mapping_maximum_concurrency.
# Without priorities nothing here exists and no other resource changes.

locals {
  priorities_enabled = length(var.priorities) > 0
  priority_names     = [for priority in var.priorities : priority.name]
  # The priority of the module's own queue: the one named, else the last (the lowest).
  default_priority = !local.priorities_enabled ? null : coalesce(var.default_priority, local.priority_names[length(local.priority_names) - 1])
  # The priorities that get a queue of their own.
  extra_priorities = !local.create ? {} : {
    for priority in var.priorities : priority.name => priority if priority.name != local.default_priority
  }
  priority_queue_names = {
    for name, priority in local.extra_priorities : name => var.fifo_queue ? "${var.name}-${name}.fifo" : "${var.name}-${name}"
  }
  # Their ARNs, known before they exist (from the module queue's account and region): the dead-letter
  # queue's redrive allow policy lists them before they are created.
  priority_queue_arns = {
    for name, queue_name in local.priority_queue_names : name => "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${queue_name}"
  }

  # Every priority queue, highest first, as the functions read them (TASKQUEUE_PRIORITY_QUEUES).
  priority_queues = !(local.create && local.priorities_enabled) ? [] : [
    for priority in var.priorities : {
      priority  = priority.name
      weight    = priority.weight
      queue_url = priority.name == local.default_priority ? aws_sqs_queue.this[0].url : aws_sqs_queue.priority[priority.name].url
      queue_arn = priority.name == local.default_priority ? aws_sqs_queue.this[0].arn : aws_sqs_queue.priority[priority.name].arn
    }
  ]
  priority_queues_json = jsonencode(local.priority_queues)

  # The queues the consumer, the event source mappings and the schedules work on: the module's own, and the priorities'.
  queue_arns = concat(compact([local.queue_arn]), [for name in keys(local.extra_priorities) : aws_sqs_queue.priority[name].arn])
  # As a policy's Resource: a single ARN stays a string, so a module without priorities writes the same policies as before.
  queue_arns_resource = try(one(local.queue_arns), local.queue_arns)

  # Behind event source mappings: each priority's share of the total cap, in proportion to its weight
  # (at least 2, Lambda's minimum MaximumConcurrency); null without a cap.
  priority_weight_total = sum(concat([0], [for priority in var.priorities : priority.weight]))
  priority_mapping_concurrency = {
    for priority in var.priorities : priority.name => (
      var.event_source_mapping_maximum_concurrency == null ? null
      : max(2, floor(var.event_source_mapping_maximum_concurrency * priority.weight / local.priority_weight_total))
    )
  }
}

resource "aws_sqs_queue" "priority" {
  for_each = local.extra_priorities

  name = local.priority_queue_names[each.key]

  # Every setting as the module's own queue, so that a task behaves the same whatever its priority.
  fifo_queue                  = var.fifo_queue
  content_based_deduplication = var.fifo_queue ? var.content_based_deduplication : null
  deduplication_scope         = var.fifo_queue ? var.deduplication_scope : null
  fifo_throughput_limit       = var.fifo_queue ? var.fifo_throughput_limit : null

  visibility_timeout_seconds = local.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  delay_seconds              = var.delay_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  max_message_size           = var.max_message_size

  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  # One dead-letter queue for every priority: the worker dead-letters a task there whichever queue it came from.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter_queue[0].arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = merge(local.queue_tags, { "taskqueue:priority" = each.key })

  # SQS refuses the redrive policy above until the dead-letter queue's allow policy lists this queue.
  depends_on = [aws_sqs_queue_redrive_allow_policy.dead_letter_queue]
}

resource "aws_sqs_queue_policy" "priority" {
  for_each = local.extra_priorities

  queue_url = aws_sqs_queue.priority[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [for statement in local.queue_policy_statements : merge(statement, { Resource = aws_sqs_queue.priority[each.key].arn })]
  })
}

# The other priorities' mappings; the default priority's is aws_lambda_event_source_mapping.worker.
resource "aws_lambda_event_source_mapping" "priority" {
  for_each = local.event_source_mapping ? local.extra_priorities : {}

  event_source_arn = aws_sqs_queue.priority[each.key].arn
  function_name    = module.worker[0].function.arn
  enabled          = var.event_source_mapping_enabled

  batch_size                         = var.event_source_mapping_batch_size
  maximum_batching_window_in_seconds = var.event_source_mapping_maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = local.priority_mapping_concurrency[each.key] == null ? [] : [local.priority_mapping_concurrency[each.key]]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  dynamic "metrics_config" {
    for_each = var.event_source_mapping_metrics_config == null ? [] : [var.event_source_mapping_metrics_config]
    content {
      metrics = metrics_config.value.metrics
    }
  }

  tags = local.event_source_mapping_tags

  depends_on = [module.worker]

  lifecycle {
    precondition {
      condition     = var.event_source_mapping_provisioned_poller_config == null
      error_message = "priorities with event_source_mapping_provisioned_poller_config: the module shares event_source_mapping_maximum_concurrency out by weight; provisioned pollers are not shared out. Use event_source_mapping_maximum_concurrency."
    }
  }
}
