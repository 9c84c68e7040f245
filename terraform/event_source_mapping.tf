# Lambda polls the queue and invokes the worker itself (trigger_mode = "event_source_mapping").

resource "aws_lambda_event_source_mapping" "worker" {
  count = local.event_source_mapping ? 1 : 0

  event_source_arn = aws_sqs_queue.this.arn
  function_name    = aws_lambda_function.worker.arn

  batch_size                         = var.event_source_mapping_batch_size
  maximum_batching_window_in_seconds = var.event_source_mapping_maximum_batching_window_in_seconds
  # The worker reports the records that failed; the others are deleted.
  function_response_types = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = var.event_source_mapping_maximum_concurrency == null ? [] : [var.event_source_mapping_maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  # Lambda checks at creation that the worker's role may poll the queue.
  depends_on = [aws_iam_role_policy.worker]

  lifecycle {
    precondition {
      condition     = !var.fifo_queue || (var.event_source_mapping_batch_size <= 10 && var.event_source_mapping_maximum_batching_window_in_seconds == null)
      error_message = "With a FIFO queue, event_source_mapping_batch_size must be at most 10 and event_source_mapping_maximum_batching_window_in_seconds unset."
    }
    precondition {
      condition     = var.event_source_mapping_batch_size <= 10 || try(var.event_source_mapping_maximum_batching_window_in_seconds >= 1, false)
      error_message = "An event_source_mapping_batch_size above 10 needs event_source_mapping_maximum_batching_window_in_seconds of at least 1."
    }
  }
}
