# Lambda polls the queue and invokes the worker itself (trigger_mode = "event_source_mapping").

resource "aws_lambda_event_source_mapping" "worker" {
  count = local.event_source_mapping ? 1 : 0

  event_source_arn = aws_sqs_queue.this[0].arn
  function_name    = module.worker[0].function.arn
  enabled          = var.event_source_mapping_enabled

  batch_size                         = var.event_source_mapping_batch_size
  maximum_batching_window_in_seconds = var.event_source_mapping_maximum_batching_window_in_seconds
  # The worker reports the records that failed; the others are deleted.
  function_response_types = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    # With priorities, the default priority's share of the cap (priorities.tf).
    for_each = var.event_source_mapping_maximum_concurrency == null ? [] : [local.priorities_enabled ? local.priority_mapping_concurrency[local.default_priority] : var.event_source_mapping_maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  dynamic "provisioned_poller_config" {
    for_each = var.event_source_mapping_provisioned_poller_config == null ? [] : [var.event_source_mapping_provisioned_poller_config]
    content {
      minimum_pollers = provisioned_poller_config.value.minimum_pollers
      maximum_pollers = provisioned_poller_config.value.maximum_pollers
    }
  }

  dynamic "metrics_config" {
    for_each = var.event_source_mapping_metrics_config == null ? [] : [var.event_source_mapping_metrics_config]
    content {
      metrics = metrics_config.value.metrics
    }
  }

  tags = local.event_source_mapping_tags

  # Lambda checks at creation that the worker's role may poll the queue.
  depends_on = [module.worker]

  lifecycle {
    precondition {
      condition     = !var.fifo_queue || (var.event_source_mapping_batch_size <= 10 && var.event_source_mapping_maximum_batching_window_in_seconds == null)
      error_message = "With a FIFO queue, event_source_mapping_batch_size (${var.event_source_mapping_batch_size}) must be at most 10 and event_source_mapping_maximum_batching_window_in_seconds unset: SQS delivers FIFO messages 10 at a time."
    }
    precondition {
      condition     = var.event_source_mapping_batch_size <= 10 || try(var.event_source_mapping_maximum_batching_window_in_seconds >= 1, false)
      error_message = "An event_source_mapping_batch_size above 10 (${var.event_source_mapping_batch_size}) needs event_source_mapping_maximum_batching_window_in_seconds of at least 1: Lambda refuses it otherwise."
    }
    precondition {
      condition     = var.event_source_mapping_maximum_concurrency == null || var.event_source_mapping_provisioned_poller_config == null
      error_message = "event_source_mapping_maximum_concurrency and event_source_mapping_provisioned_poller_config are exclusive scaling modes: keep one (in provisioned mode, maximum_pollers caps the concurrency, 10 invocations per poller)."
    }
    precondition {
      condition     = try(var.event_source_mapping_provisioned_poller_config.minimum_pollers <= var.event_source_mapping_provisioned_poller_config.maximum_pollers, true)
      error_message = "event_source_mapping_provisioned_poller_config.minimum_pollers must not exceed maximum_pollers."
    }
  }
}
