# The consumer runs on the schedule, long-polls the queue and hands batches to the worker
# (trigger_mode = "schedule" only).

resource "aws_cloudwatch_log_group" "consumer" {
  count = local.schedule ? 1 : 0

  # The name Lambda logs to by default: created here so that it has a retention and the role
  # needs no logs:CreateLogGroup.
  name              = "/aws/lambda/${local.consumer_function_name}"
  retention_in_days = var.cloudwatch_logs_retention_in_days
  kms_key_id        = var.cloudwatch_logs_kms_key_id
  log_group_class   = var.cloudwatch_logs_log_group_class

  tags = local.cloudwatch_logs_tags
}

resource "aws_lambda_function" "consumer" {
  #checkov:skip=CKV_AWS_116:Only the schedule invokes it asynchronously, and a failed run is not retried (event invoke config) because its messages stay in SQS for the next run, so a Lambda DLQ would only collect schedule events
  #checkov:skip=CKV_AWS_272:Packages are built from source by build.py in the caller's pipeline, unsigned, and a signing profile is the platform's own choice
  #checkov:skip=CKV_AWS_173:The environment holds queue URLs, names and settings, no secrets, and Lambda encrypts it at rest with its AWS-managed key
  count = local.schedule ? 1 : 0

  function_name = local.consumer_function_name
  description   = "Task queue ${var.name}: receives from ${local.queue_name} and hands batches to ${local.worker_function_name}."
  role          = local.consumer_role_arn

  filename          = var.consumer_package.filename
  s3_bucket         = var.consumer_package.s3_bucket
  s3_key            = var.consumer_package.s3_key
  s3_object_version = var.consumer_package.s3_object_version
  source_code_hash  = local.source_code_hashes.consumer
  handler           = "taskqueue.consumer.handler"
  runtime           = var.runtime
  architectures     = local.architectures
  publish           = var.publish

  memory_size                    = var.consumer_memory_size
  timeout                        = var.consumer_timeout
  reserved_concurrent_executions = var.consumer_reserved_concurrent_executions

  environment {
    variables = merge(
      var.consumer_environment_variables,
      local.powertools_environment,
      local.backoff_environment,
      {
        TASKQUEUE_QUEUE_URL              = aws_sqs_queue.this[0].url
        TASKQUEUE_WORKER_FUNCTION        = aws_lambda_function.worker[0].arn
        TASKQUEUE_WORKER_TIMEOUT_SECONDS = tostring(var.worker_timeout)
        TASKQUEUE_MAX_CONCURRENCY        = tostring(var.consumer_max_concurrency)
        TASKQUEUE_RECEIVERS              = tostring(var.consumer_receivers)
        TASKQUEUE_BATCH_SIZE             = tostring(var.consumer_batch_size)
        TASKQUEUE_MODE                   = var.consumer_mode
      },
      var.consumer_wait_time_seconds == null ? {} : { TASKQUEUE_WAIT_TIME_SECONDS = tostring(var.consumer_wait_time_seconds) },
    )
  }

  logging_config {
    log_format            = var.logging_log_format
    log_group             = aws_cloudwatch_log_group.consumer[0].name
    application_log_level = local.json_logs ? local.application_log_level : null
    system_log_level      = local.json_logs ? var.logging_system_log_level : null
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

  tags = local.function_tags

  # The first run must find its log group and its permissions in place.
  depends_on = [
    aws_cloudwatch_log_group.consumer,
    aws_iam_role_policy.consumer,
    aws_iam_role_policy_attachment.consumer_managed,
  ]

  lifecycle {
    precondition {
      condition     = var.consumer_package != null
      error_message = "consumer_package is required when trigger_mode = \"schedule\": pass dist/consumer.zip from build.py (filename, or s3_bucket and s3_key)."
    }
    precondition {
      condition     = try(var.consumer_package.filename == null || var.consumer_package.source_code_hash != null || fileexists(var.consumer_package.filename), true)
      error_message = "consumer_package.filename = \"${try(var.consumer_package.filename != null, false) ? var.consumer_package.filename : ""}\" does not exist: build it first (`make build`) or pass its source_code_hash."
    }
    precondition {
      condition = var.create_role == (var.consumer_role_arn == null)
      error_message = (var.create_role
        ? "consumer_role_arn is used only with create_role = false: remove it, or set create_role = false to run the consumer with that role."
        : "create_role = false needs consumer_role_arn in schedule mode: the ARN of the role the consumer runs with."
      )
    }
    precondition {
      condition     = var.consumer_timeout >= local.minimum_consumer_timeout
      error_message = "consumer_timeout (${var.consumer_timeout}) must be at least ${local.minimum_consumer_timeout}: worker_timeout (${var.worker_timeout}) + ${local.lambda_init_seconds} (Lambda's init allowance) + ${local.invoke_response_slack_seconds} (the answer's way back) + ${local.consumer_time_margin_seconds} (TASKQUEUE_TIME_MARGIN_SECONDS) + 1 (one poll). A shorter consumer can wait for no worker invocation and never receives. Raise consumer_timeout or lower worker_timeout."
    }
    precondition {
      condition     = var.consumer_receivers <= var.consumer_max_concurrency
      error_message = "consumer_receivers (${var.consumer_receivers}) must not exceed consumer_max_concurrency (${var.consumer_max_concurrency}): a receive waits for a free worker slot, so the extra loops would only wait."
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
