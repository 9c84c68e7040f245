# The worker runs a batch of tasks: invoked by the consumer (schedule mode) or by the event source
# mapping. The same function and package serve both.

locals {
  # Lambda redeploys a function when its hash changes: the given one, or that of the local file.
  # An S3 package without a hash changes through its key or object version.
  source_code_hashes = {
    for function, package in { consumer = var.consumer_package, worker = var.worker_package } : function => try(
      package.source_code_hash != null ? package.source_code_hash : (package.filename != null ? filebase64sha256(package.filename) : null),
      null,
    )
  }
}

resource "aws_cloudwatch_log_group" "worker" {
  count = local.create ? 1 : 0

  name              = "/aws/lambda/${local.worker_function_name}"
  retention_in_days = var.cloudwatch_logs_retention_in_days
  kms_key_id        = var.cloudwatch_logs_kms_key_id
  log_group_class   = var.cloudwatch_logs_log_group_class

  tags = local.cloudwatch_logs_tags
}

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously only, by the consumer or the event source mapping, so a Lambda DLQ (asynchronous invocations) never applies and failed tasks go to the queue's dead-letter queue
  #checkov:skip=CKV_AWS_272:Packages are built from source by build.py in the caller's pipeline, unsigned, and a signing profile is the platform's own choice
  #checkov:skip=CKV_AWS_173:The environment holds queue URLs, task module names and settings, no secrets, and Lambda encrypts it at rest with its AWS-managed key
  count = local.create ? 1 : 0

  function_name = local.worker_function_name
  description   = "Task queue ${var.name}: runs the tasks of messages from ${local.queue_name}."
  role          = local.worker_role_arn

  filename          = var.worker_package.filename
  s3_bucket         = var.worker_package.s3_bucket
  s3_key            = var.worker_package.s3_key
  s3_object_version = var.worker_package.s3_object_version
  source_code_hash  = local.source_code_hashes.worker
  handler           = "taskqueue.worker.handler"
  runtime           = var.runtime
  architectures     = local.architectures
  publish           = var.publish

  memory_size                    = var.worker_memory_size
  timeout                        = var.worker_timeout
  reserved_concurrent_executions = var.worker_reserved_concurrent_executions

  environment {
    variables = merge(
      var.worker_environment_variables,
      local.powertools_environment,
      local.backoff_environment,
      {
        TASKQUEUE_DLQ_URL = aws_sqs_queue.dead_letter_queue[0].url
        # On the last allowed receive the worker dead-letters a failing task itself, with its error.
        TASKQUEUE_MAX_RECEIVE_COUNT = tostring(var.max_receive_count)
      },
      var.max_attempts == null ? {} : { TASKQUEUE_MAX_ATTEMPTS = tostring(var.max_attempts) },
      length(var.task_modules) == 0 ? {} : { TASKQUEUE_TASKS = join(",", var.task_modules) },
      !var.create_idempotency_table ? {} : {
        TASKQUEUE_IDEMPOTENCY_TABLE       = aws_dynamodb_table.idempotency[0].name
        TASKQUEUE_IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds)
      },
      !var.track_attempts ? {} : { TASKQUEUE_ATTEMPTS_TABLE = aws_dynamodb_table.idempotency[0].name },
      # With no consumer to delay retries, the worker sets the backoff of its failed records itself.
      !local.event_source_mapping ? {} : {
        TASKQUEUE_APPLY_BACKOFF = "true"
        TASKQUEUE_QUEUE_URL     = aws_sqs_queue.this[0].url
      },
    )
  }

  logging_config {
    log_format            = var.logging_log_format
    log_group             = aws_cloudwatch_log_group.worker[0].name
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

  depends_on = [
    aws_cloudwatch_log_group.worker,
    aws_iam_role_policy.worker,
    aws_iam_role_policy_attachment.worker_managed,
  ]

  lifecycle {
    precondition {
      condition     = var.worker_package != null
      error_message = "worker_package is required: pass dist/worker.zip from build.py (filename, or s3_bucket and s3_key)."
    }
    precondition {
      condition     = try(var.worker_package.filename == null || var.worker_package.source_code_hash != null || fileexists(var.worker_package.filename), true)
      error_message = "worker_package.filename = \"${try(var.worker_package.filename != null, false) ? var.worker_package.filename : ""}\" does not exist: build it first (`make build`) or pass its source_code_hash."
    }
    precondition {
      condition     = (var.vpc_subnet_ids == null) == (var.vpc_security_group_ids == null)
      error_message = "vpc_subnet_ids and vpc_security_group_ids go together: set both or neither."
    }
    precondition {
      condition     = var.max_attempts == null || try(var.max_attempts <= var.max_receive_count, false)
      error_message = "max_attempts (${coalesce(var.max_attempts, 0)}) must not exceed max_receive_count (${var.max_receive_count}): SQS would move a message to the dead-letter queue before its last attempt. Raise max_receive_count or lower max_attempts."
    }
    precondition {
      condition     = var.backoff_base_seconds <= var.backoff_max_seconds
      error_message = "backoff_base_seconds (${var.backoff_base_seconds}) must not exceed backoff_max_seconds (${var.backoff_max_seconds})."
    }
    precondition {
      # Throttled invocations fail their batch: with a consumer it releases and retries them, with an
      # event source mapping each throttle counts as a receive, and messages reach the DLQ unrun.
      condition = var.worker_reserved_concurrent_executions == null || try(
        var.worker_reserved_concurrent_executions >= local.worker_concurrency_needed,
        false,
      )
      error_message = (local.schedule
        ? "worker_reserved_concurrent_executions (${coalesce(var.worker_reserved_concurrent_executions, 0)}) must allow ${local.worker_concurrency_needed} concurrent worker invocations: consumer_max_concurrency (${var.consumer_max_concurrency}) times ${local.overlapping_consumer_runs} overlapping consumer runs (consumer_timeout ${var.consumer_timeout} s, one run every ${local.schedule_period_seconds} s). Raise the reserve, lower consumer_max_concurrency, or cap the runs with consumer_reserved_concurrent_executions."
        : "With an event source mapping, worker_reserved_concurrent_executions (${coalesce(var.worker_reserved_concurrent_executions, 0)}) needs a cap on the mapping's invocations at or below it, since the mapping counts throttles as receives: set event_source_mapping_maximum_concurrency (or, in provisioned mode, event_source_mapping_provisioned_poller_config.maximum_pollers, 10 invocations each) so that at most ${coalesce(var.worker_reserved_concurrent_executions, 0)} run at once${local.worker_concurrency_needed == null ? "" : "; it allows ${local.worker_concurrency_needed} now"}."
      )
    }
    precondition {
      condition = var.create_role == (var.worker_role_arn == null)
      error_message = (var.create_role
        ? "worker_role_arn is used only with create_role = false: remove it, or set create_role = false to run the worker with that role."
        : "create_role = false needs worker_role_arn: the ARN of the role the worker (and the event source mapping) runs with."
      )
    }
    precondition {
      condition     = var.create_role || (length(var.worker_policy_statements) == 0 && length(var.worker_policy_arns) == 0)
      error_message = "worker_policy_statements and worker_policy_arns need create_role = true: the module attaches nothing to your own roles. Attach what your tasks need to ${coalesce(var.worker_role_arn, "your worker role")} yourself."
    }
    precondition {
      condition     = local.json_logs || var.logging_system_log_level == null
      error_message = "logging_system_log_level needs logging_log_format = \"JSON\": Lambda filters its own lines by level in the JSON format only."
    }
  }
}
