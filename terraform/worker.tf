# The worker runs a batch of tasks: invoked by the consumer (schedule mode) or by the event source
# mapping. The same function and package serve both.

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/aws/lambda/${local.worker_function_name}"
  retention_in_days = var.cloudwatch_logs_retention_in_days
  kms_key_id        = var.cloudwatch_logs_kms_key_id

  tags = var.tags
}

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously only, by the consumer or the event source mapping, so a Lambda DLQ (asynchronous invocations) never applies and failed tasks go to the queue's dead-letter queue
  #checkov:skip=CKV_AWS_272:Packages are built from source by build.py in the caller's pipeline, unsigned, and a signing profile is the platform's own choice
  #checkov:skip=CKV_AWS_173:The environment holds queue URLs, task module names and settings, no secrets, and Lambda encrypts it at rest with its AWS-managed key
  function_name = local.worker_function_name
  description   = "Task queue ${var.name}: runs the tasks of messages from ${local.queue_name}."
  role          = aws_iam_role.worker.arn

  filename         = var.worker_package.filename
  source_code_hash = var.worker_package.source_code_hash != null ? var.worker_package.source_code_hash : filebase64sha256(var.worker_package.filename)
  handler          = "taskqueue.worker.handler"
  runtime          = var.runtime
  architectures    = [var.architecture]

  memory_size                    = var.worker_memory_size
  timeout                        = var.worker_timeout
  reserved_concurrent_executions = var.worker_reserved_concurrent_executions

  environment {
    variables = merge(
      var.worker_environment_variables,
      local.powertools_environment,
      local.backoff_environment,
      {
        TASKQUEUE_DLQ_URL = aws_sqs_queue.dead_letter_queue.url
        # On the last allowed receive the worker dead-letters a failing task itself, with its error.
        TASKQUEUE_MAX_RECEIVE_COUNT = tostring(var.max_receive_count)
      },
      length(var.task_modules) == 0 ? {} : { TASKQUEUE_TASKS = join(",", var.task_modules) },
      !var.create_idempotency_table ? {} : {
        TASKQUEUE_IDEMPOTENCY_TABLE       = aws_dynamodb_table.idempotency[0].name
        TASKQUEUE_IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds)
      },
      # With no consumer to delay retries, the worker sets the backoff of its failed records itself.
      !local.event_source_mapping ? {} : {
        TASKQUEUE_APPLY_BACKOFF = "true"
        TASKQUEUE_QUEUE_URL     = aws_sqs_queue.this.url
      },
    )
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = local.vpc_enabled ? [true] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.worker,
    aws_iam_role_policy.worker,
    aws_iam_role_policy_attachment.worker_managed,
  ]

  lifecycle {
    precondition {
      condition     = (var.vpc_subnet_ids == null) == (var.vpc_security_group_ids == null)
      error_message = "vpc_subnet_ids and vpc_security_group_ids go together: set both or neither."
    }
    precondition {
      condition     = var.backoff_base_seconds <= var.backoff_max_seconds
      error_message = "backoff_base_seconds (${var.backoff_base_seconds}) must not exceed backoff_max_seconds (${var.backoff_max_seconds})."
    }
    precondition {
      # Fewer reserved executions than the consumer starts at once would throttle its invocations.
      condition = var.worker_reserved_concurrent_executions == null || try(
        var.worker_reserved_concurrent_executions >= (local.schedule ? var.consumer_max_concurrency : coalesce(var.event_source_mapping_maximum_concurrency, 1)),
        false,
      )
      error_message = "worker_reserved_concurrent_executions must allow ${local.schedule ? "consumer_max_concurrency" : "event_source_mapping_maximum_concurrency"} concurrent invocations of the worker."
    }
  }
}
