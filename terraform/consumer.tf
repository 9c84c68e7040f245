# The consumer runs on the schedule, long-polls the queue and hands batches to the worker
# (trigger_mode = "schedule" only).

resource "aws_cloudwatch_log_group" "consumer" {
  count = local.schedule ? 1 : 0

  # The name Lambda logs to by default: created here so that it has a retention and the role
  # needs no logs:CreateLogGroup.
  name              = "/aws/lambda/${local.consumer_function_name}"
  retention_in_days = var.cloudwatch_logs_retention_in_days
  kms_key_id        = var.cloudwatch_logs_kms_key_id

  tags = var.tags
}

resource "aws_lambda_function" "consumer" {
  #checkov:skip=CKV_AWS_116:Only the schedule invokes it asynchronously, and a failed run is not retried (event invoke config) because its messages stay in SQS for the next run, so a Lambda DLQ would only collect schedule events
  #checkov:skip=CKV_AWS_272:Packages are built from source by build.py in the caller's pipeline, unsigned, and a signing profile is the platform's own choice
  #checkov:skip=CKV_AWS_173:The environment holds queue URLs, names and settings, no secrets, and Lambda encrypts it at rest with its AWS-managed key
  count = local.schedule ? 1 : 0

  function_name = local.consumer_function_name
  description   = "Task queue ${var.name}: receives from ${local.queue_name} and hands batches to ${local.worker_function_name}."
  role          = aws_iam_role.consumer[0].arn

  filename         = var.consumer_package.filename
  source_code_hash = var.consumer_package.source_code_hash != null ? var.consumer_package.source_code_hash : filebase64sha256(var.consumer_package.filename)
  handler          = "taskqueue.consumer.handler"
  runtime          = var.runtime
  architectures    = [var.architecture]

  memory_size                    = var.consumer_memory_size
  timeout                        = var.consumer_timeout
  reserved_concurrent_executions = var.consumer_reserved_concurrent_executions

  environment {
    variables = merge(
      var.consumer_environment_variables,
      local.powertools_environment,
      local.backoff_environment,
      {
        TASKQUEUE_QUEUE_URL              = aws_sqs_queue.this.url
        TASKQUEUE_WORKER_FUNCTION        = aws_lambda_function.worker.arn
        TASKQUEUE_WORKER_TIMEOUT_SECONDS = tostring(var.worker_timeout)
        TASKQUEUE_MAX_CONCURRENCY        = tostring(var.consumer_max_concurrency)
        TASKQUEUE_BATCH_SIZE             = tostring(var.consumer_batch_size)
        TASKQUEUE_MODE                   = var.consumer_mode
      },
      var.consumer_wait_time_seconds == null ? {} : { TASKQUEUE_WAIT_TIME_SECONDS = tostring(var.consumer_wait_time_seconds) },
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

  # The first run must find its log group and its permissions in place.
  depends_on = [
    aws_cloudwatch_log_group.consumer,
    aws_iam_role_policy.consumer,
    aws_iam_role_policy_attachment.consumer_managed,
  ]

  lifecycle {
    precondition {
      condition     = var.consumer_package != null
      error_message = "consumer_package is required when trigger_mode = \"schedule\"."
    }
    precondition {
      condition     = var.consumer_timeout > var.worker_timeout
      error_message = "consumer_timeout (${var.consumer_timeout}) must exceed worker_timeout (${var.worker_timeout}): the consumer waits for each worker invocation it starts."
    }
    precondition {
      condition     = !(var.consumer_mode == "continuous" && var.consumer_wait_time_seconds == 0)
      error_message = "consumer_mode = \"continuous\" needs a long poll (consumer_wait_time_seconds 1-20, or unset): with 0 it would poll an empty queue in a busy loop."
    }
  }
}

# A failed run is not retried: the next scheduled run picks up the same messages.
resource "aws_lambda_function_event_invoke_config" "consumer" {
  count = local.schedule ? 1 : 0

  function_name                = aws_lambda_function.consumer[0].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
