# The consumer long-polls the queue and hands batches to the worker (trigger_mode = "schedule": its
# trigger is consumer_trigger.tf).

locals {
  # Every variable the module may set in the consumer's environment, with whether this configuration
  # sets it: consumer_environment_variables may set none of them (terraform_data.consumer_settings).
  consumer_environment_settings = merge(local.common_environment_settings, {
    TASKQUEUE_QUEUE_URL              = { set = true, value = one(aws_sqs_queue.this[*].url) }
    TASKQUEUE_WORKER_FUNCTION        = { set = true, value = local.worker_function_arn }
    TASKQUEUE_WORKER_TIMEOUT_SECONDS = { set = true, value = tostring(var.worker_timeout) }
    TASKQUEUE_MAX_CONCURRENCY        = { set = true, value = tostring(var.consumer_max_concurrency) }
    TASKQUEUE_RECEIVERS              = { set = true, value = tostring(var.consumer_receivers) }
    TASKQUEUE_BATCH_SIZE             = { set = true, value = tostring(var.consumer_batch_size) }
    TASKQUEUE_MODE                   = { set = true, value = var.consumer_mode }
    # With priorities: every priority queue, and the order to receive from them in (priorities.tf).
    TASKQUEUE_PRIORITY_QUEUES   = { set = local.priorities_enabled, value = local.priority_queues_json }
    TASKQUEUE_RECEIVE_ORDER     = { set = local.priorities_enabled, value = var.priority_order }
    TASKQUEUE_WAIT_TIME_SECONDS = { set = var.consumer_wait_time_seconds != null, value = tostring(var.consumer_wait_time_seconds) }
  })
  consumer_environment = merge(
    var.consumer_environment_variables,
    { for name, setting in local.consumer_environment_settings : name => setting.value if setting.set },
  )
}

# Inputs of the consumer that must agree with each other, checked before it is planned. Here rather
# than on the function (modules/function) so that `terraform test` can expect their failures.
resource "terraform_data" "consumer_settings" {
  count = local.consumer ? 1 : 0

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
    precondition {
      condition     = length(setintersection(keys(var.consumer_environment_variables), keys(local.consumer_environment_settings))) == 0
      error_message = "consumer_environment_variables may not set a variable the module sets: ${join(", ", sort(setintersection(keys(var.consumer_environment_variables), keys(local.consumer_environment_settings))))} (the module sets ${join(", ", sort(keys(local.consumer_environment_settings)))}; each has an input of its own)."
    }
  }
}

module "consumer" {
  source = "./modules/function"
  count  = local.consumer ? 1 : 0

  function_name = local.consumer_function_name
  description   = "Task queue ${var.name}: receives from ${local.queue_name} and hands batches to ${local.worker_function_name}."
  handler       = "taskqueue.consumer.handler"
  package       = merge(var.consumer_package, { source_code_hash = local.source_code_hashes.consumer })
  environment   = local.consumer_environment

  memory_size                    = var.consumer_memory_size
  timeout                        = var.consumer_timeout
  reserved_concurrent_executions = var.consumer_reserved_concurrent_executions

  role = merge(local.function_role, {
    arn         = var.consumer_role_arn
    name_prefix = var.role_use_name_prefix ? "${local.role_name_prefix}-consumer-" : null
    policy_name = "taskqueue-consumer"
    policy_json = local.consumer_role_policy_json
  })

  settings = local.function_settings

  depends_on = [terraform_data.consumer_settings]
}

# A failed run is not retried: the next run the trigger starts picks up the same messages.
resource "aws_lambda_function_event_invoke_config" "consumer" {
  count = local.consumer ? 1 : 0

  function_name                = module.consumer[0].function.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
