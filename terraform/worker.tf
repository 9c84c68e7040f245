# The worker runs a batch of tasks: invoked by the consumer or by the event source mapping
# (trigger_mode.tf). The same function and package serve both.

locals {
  # Lambda redeploys a function when its hash changes: the given one, or that of the local file.
  # An S3 package without a hash changes through its key or object version.
  source_code_hashes = {
    for function, package in { consumer = var.consumer_package, worker = var.worker_package } : function => try(
      package.source_code_hash != null ? package.source_code_hash : (package.filename != null ? filebase64sha256(package.filename) : null),
      null,
    )
  }

  # Every variable the module may set in the worker's environment, with whether this configuration
  # sets it: worker_environment_variables may set none of them (terraform_data.worker_settings).
  worker_environment_settings = merge(local.common_environment_settings, {
    TASKQUEUE_DLQ_URL = { set = true, value = one(aws_sqs_queue.dead_letter_queue[*].url) }
    # On the last allowed receive the worker dead-letters a failing task itself, with its error.
    TASKQUEUE_MAX_RECEIVE_COUNT       = { set = true, value = tostring(var.max_receive_count) }
    TASKQUEUE_MAX_ATTEMPTS            = { set = var.max_attempts != null, value = tostring(var.max_attempts) }
    TASKQUEUE_TASKS                   = { set = length(var.task_modules) > 0, value = join(",", var.task_modules) }
    TASKQUEUE_IDEMPOTENCY_TABLE       = { set = var.create_idempotency_table, value = local.created_table_name }
    TASKQUEUE_IDEMPOTENCY_TTL_SECONDS = { set = var.create_idempotency_table, value = tostring(var.idempotency_ttl_seconds) }
    TASKQUEUE_ATTEMPTS_TABLE          = { set = var.track_attempts, value = local.created_table_name }
    TASKQUEUE_STATUS_TABLE            = { set = local.track_status, value = local.created_table_name }
    TASKQUEUE_TRACK_STATUS            = { set = local.track_status, value = var.track_status }
    TASKQUEUE_STATUS_TTL_SECONDS      = { set = local.track_status, value = tostring(var.status_ttl_seconds) }
    TASKQUEUE_FLOW_CONTROL_TABLE      = { set = local.flow_control, value = one(aws_dynamodb_table.flow_control[*].name) }
    # How many async def or threads=True tasks of a batch run at once (docs/concurrency.md).
    TASKQUEUE_TASK_CONCURRENCY = { set = true, value = tostring(local.worker_task_concurrency) }
    # With no consumer to delay retries, the worker sets the backoff of its failed records itself.
    TASKQUEUE_APPLY_BACKOFF = { set = local.trigger.worker_polls_queue, value = "true" }
    TASKQUEUE_QUEUE_URL     = { set = local.trigger.worker_polls_queue, value = one(aws_sqs_queue.this[*].url) }
    # Behind event source mappings with priorities, each record is settled on its own queue.
    TASKQUEUE_PRIORITY_QUEUES = { set = local.trigger.worker_polls_queue && local.priorities_enabled, value = local.priority_queues_json }
  })
  worker_environment = merge(
    var.worker_environment_variables,
    { for name, setting in local.worker_environment_settings : name => setting.value if setting.set },
  )
}

# Inputs of the worker that must agree with each other, checked before it is planned. Here rather
# than on the function (modules/function) so that `terraform test` can expect their failures.
resource "terraform_data" "worker_settings" {
  count = local.create ? 1 : 0

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
      # More could never run: a batch holds no more tasks than its size.
      condition     = var.worker_task_concurrency == null || try(var.worker_task_concurrency <= local.trigger.worker_batch_size, false)
      error_message = "worker_task_concurrency (${coalesce(var.worker_task_concurrency, 0)}) exceeds the batch size (${local.trigger.worker_batch_size}, ${local.trigger.worker_batch_size_input}): a batch never holds that many tasks. Lower it, or leave it unset to run the whole batch at once."
    }
    precondition {
      # Without the attempts table a receive is an attempt: starts held back by a limit would use them up.
      condition     = !var.flow_control || var.track_attempts
      error_message = "flow_control needs track_attempts = true: without the attempts table a receive is an attempt, and starts held back by a flow limit would use up the tasks' attempts."
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
      error_message = local.trigger.worker_concurrency_error
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
    precondition {
      condition     = length(setintersection(keys(var.worker_environment_variables), keys(local.worker_environment_settings))) == 0
      error_message = "worker_environment_variables may not set a variable the module sets: ${join(", ", sort(setintersection(keys(var.worker_environment_variables), keys(local.worker_environment_settings))))} (the module sets ${join(", ", sort(keys(local.worker_environment_settings)))}; each has an input of its own)."
    }
  }
}

module "worker" {
  source = "./modules/function"
  count  = local.create ? 1 : 0

  function_name = local.worker_function_name
  description   = "Task queue ${var.name}: runs the tasks of messages from ${local.queue_name}."
  handler       = "taskqueue.worker.handler"
  package       = merge(var.worker_package, { source_code_hash = local.source_code_hashes.worker })
  environment   = local.worker_environment

  memory_size                    = var.worker_memory_size
  timeout                        = var.worker_timeout
  reserved_concurrent_executions = var.worker_reserved_concurrent_executions

  role = merge(local.function_role, {
    arn         = var.worker_role_arn
    name_prefix = var.role_use_name_prefix ? "${local.role_name_prefix}-worker-" : null
    policy_name = "taskqueue-worker"
    policy_json = local.worker_role_policy_json
  })

  settings = local.function_settings

  depends_on = [terraform_data.worker_settings]
}
