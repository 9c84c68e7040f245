locals {
  schedule             = var.trigger_mode == "schedule"
  event_source_mapping = var.trigger_mode == "event_source_mapping"

  queue_name             = coalesce(var.queue_name, var.fifo_queue ? "${var.name}.fifo" : var.name)
  dead_letter_queue_name = coalesce(var.dead_letter_queue_name, var.fifo_queue ? "${var.name}-dlq.fifo" : "${var.name}-dlq")

  # The queue must hide a message for as long as anything may still be working on it: in schedule
  # mode the consumer (which holds the batch) and the worker; with an event source mapping the worker.
  # AWS recommends six times the function timeout for an event source mapping, to leave room for
  # retries of throttled invocations.
  required_visibility_timeout = local.schedule ? max(var.consumer_timeout, var.worker_timeout) : var.worker_timeout
  visibility_timeout_seconds = coalesce(
    var.visibility_timeout_seconds,
    local.schedule ? local.required_visibility_timeout : min(6 * var.worker_timeout, 43200),
  )

  consumer_function_name = "${var.name}-consumer"
  worker_function_name   = "${var.name}-worker"

  # The ARN form lets IAM statements name the key; SQS accepts it as kms_master_key_id too.
  queue_kms_key_arns = var.kms_master_key_id == null ? [] : [var.kms_master_key_id]

  idempotency_table_name = coalesce(var.idempotency_table_name, "${var.name}-idempotency")

  vpc_enabled = var.vpc_subnet_ids != null && var.vpc_security_group_ids != null

  powertools_environment = {
    POWERTOOLS_SERVICE_NAME      = var.name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = var.log_level
  }

  backoff_environment = {
    TASKQUEUE_BACKOFF_BASE_SECONDS = tostring(var.backoff_base_seconds)
    TASKQUEUE_BACKOFF_MAX_SECONDS  = tostring(var.backoff_max_seconds)
  }
}

data "aws_partition" "current" {}
