locals {
  create = var.create

  queue_name             = coalesce(var.queue_name, var.fifo_queue ? "${var.name}.fifo" : var.name)
  dead_letter_queue_name = coalesce(var.dead_letter_queue_name, var.fifo_queue ? "${var.name}-dlq.fifo" : "${var.name}-dlq")

  consumer_function_name = "${var.name}-consumer"
  worker_function_name   = "${var.name}-worker"

  # The region the queue lives in, read from its ARN: right for a provider of any region (and for
  # 6.x's per-resource region), and free of data.aws_region's name/region split between 5.x and 6.x.
  region = try(split(":", aws_sqs_queue.this[0].arn)[3], null)

  ##############################################################################
  # Time budget
  ##############################################################################

  # These two mirror functions/taskqueue/limits.py (LAMBDA_INIT_SECONDS, INVOKE_RESPONSE_SLACK_SECONDS);
  # tests/test_terraform.py holds the copies equal. Lambda runs a cold start's init with up to 10 s of
  # its own, outside the function's timeout; the answer then needs a moment to travel back.
  lambda_init_seconds           = 10
  invoke_response_slack_seconds = 2
  # Mirrors ConsumerConfig.time_margin_seconds in functions/taskqueue/config.py, the default the
  # runtime keeps free at the end of its budget when TASKQUEUE_TIME_MARGIN_SECONDS is unset.
  default_time_margin_seconds = 2

  consumer_time_margin_seconds = try(
    tonumber(var.consumer_environment_variables["TASKQUEUE_TIME_MARGIN_SECONDS"]),
    local.default_time_margin_seconds,
  )
  # A consumer shorter than this can wait for no worker invocation at all (one poll of 1 s included):
  # it would never receive, and messages would expire at retention without reaching the DLQ.
  minimum_consumer_timeout = var.worker_timeout + local.lambda_init_seconds + local.invoke_response_slack_seconds + local.consumer_time_margin_seconds + 1

  # The longest a worker invocation can live: its timeout plus Lambda's init allowance.
  longest_worker_invocation = var.worker_timeout + local.lambda_init_seconds

  # The queue must hide a message for as long as anything may still work on it (trigger_mode.tf says
  # what holds a batch in each mode).
  required_visibility_timeout = local.trigger.required_visibility_timeout
  visibility_timeout_seconds  = coalesce(var.visibility_timeout_seconds, local.trigger.default_visibility_timeout)

  ##############################################################################
  # Concurrency
  ##############################################################################

  # The consumer's trigger starts a run every period; one that lasts longer than the period overlaps the
  # next ones. rate() expressions give the period; any cron() may fire every minute, EventBridge's finest step.
  consumer_trigger_rate           = try(regex("^rate\\(([0-9]+) (minute|hour|day)s?\\)$", var.schedule_expression), null)
  consumer_trigger_period_seconds = local.consumer_trigger_rate == null ? 60 : tonumber(local.consumer_trigger_rate[0]) * { minute = 60, hour = 3600, day = 86400 }[local.consumer_trigger_rate[1]]
  # A run lives at most consumer_timeout; a reserved concurrency on the consumer caps the count.
  overlapping_consumer_runs = (var.consumer_reserved_concurrent_executions == null
    ? ceil(var.consumer_timeout / local.consumer_trigger_period_seconds)
    : min(ceil(var.consumer_timeout / local.consumer_trigger_period_seconds), var.consumer_reserved_concurrent_executions)
  )
  # SQS event pollers in provisioned mode invoke the function up to 10 times at once each.
  invocations_per_sqs_poller = 10
  # The most invocations the event source mappings make at once, when the inputs cap them (null: unbounded).
  # With priorities, each queue's mapping has its share of the cap, at least 2 (priorities.tf): their sum.
  event_source_mapping_concurrency = (var.event_source_mapping_provisioned_poller_config != null
    ? try(var.event_source_mapping_provisioned_poller_config.maximum_pollers * local.invocations_per_sqs_poller, null)
    : var.event_source_mapping_maximum_concurrency == null ? null
    : local.priorities_enabled ? sum(values(local.priority_mapping_concurrency))
    : var.event_source_mapping_maximum_concurrency
  )
  # The most worker invocations that can run at once, when the module can tell (null: unbounded).
  worker_concurrency_needed = local.trigger.worker_concurrency_needed

  ##############################################################################
  # Functions
  ##############################################################################

  # Lambda's level names (ALC) and Powertools' (Python logging). With the JSON log format Lambda sets
  # AWS_LAMBDA_LOG_LEVEL from application_log_level and Powertools' Logger takes that over
  # POWERTOOLS_LOG_LEVEL; with Text only POWERTOOLS_LOG_LEVEL applies. Both get the same level.
  powertools_log_levels = { TRACE = "DEBUG", DEBUG = "DEBUG", INFO = "INFO", WARN = "WARNING", ERROR = "ERROR", FATAL = "CRITICAL" }
  json_logs             = var.logging_log_format == "JSON"

  powertools_environment = {
    POWERTOOLS_SERVICE_NAME      = var.name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = local.powertools_log_levels[var.logging_application_log_level]
  }

  # A batch's size, and how many of its tasks the worker runs at once when they can (issue 23); the cap and
  # the reserve mirror taskqueue.limits.WORKER_MAX_TASK_CONCURRENCY and taskqueue.batch.budget.MIN_REMAINING_SECONDS_TO_START.
  worker_max_task_concurrency  = 256
  worker_start_reserve_seconds = 1
  worker_task_concurrency      = coalesce(var.worker_task_concurrency, min(local.trigger.worker_batch_size, local.worker_max_task_concurrency))

  backoff_environment = {
    TASKQUEUE_BACKOFF_BASE_SECONDS = tostring(var.backoff_base_seconds)
    TASKQUEUE_BACKOFF_MAX_SECONDS  = tostring(var.backoff_max_seconds)
  }

  # The table also counts failed attempts (track_attempts, on by default) and keeps task status (track_status).
  track_status = var.track_status != "off"
  create_table = local.create && (var.create_idempotency_table || var.track_attempts || local.track_status)
  # Task status: the index by state and time (taskqueue.status.STATE_INDEX and its attributes; the index
  # carries INDEX_PROJECTED_ATTRIBUTES: tests/test_status.py holds the two equal).
  status_index_name           = "taskqueue-status-by-state"
  status_state_attribute      = "task_state"
  status_changed_at_attribute = "state_changed_at"
  status_index_projected      = ["task", "task_id", "message_id", "attempts", "reason", "last_error"]
  status_key_prefix           = "taskqueue-status#"
  table_name                  = coalesce(var.idempotency_table_name, "${var.name}-idempotency")

  created_table_name = one(aws_dynamodb_table.idempotency[*].name)

  vpc_enabled = var.vpc_subnet_ids != null && var.vpc_security_group_ids != null

  # What both functions share (consumer.tf, worker.tf; modules/function).
  common_environment_settings = {
    for name, value in merge(local.powertools_environment, local.backoff_environment) : name => { set = true, value = value }
  }
  function_settings = {
    runtime       = var.runtime
    architectures = var.architectures
    publish       = var.publish
    logging = {
      log_format            = var.logging_log_format
      application_log_level = local.json_logs ? var.logging_application_log_level : null
      system_log_level      = local.json_logs ? var.logging_system_log_level : null
    }
    tracing_mode = var.tracing_mode
    vpc = !local.vpc_enabled ? null : {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
    tags = local.function_tags
    log_group = {
      retention_in_days = var.cloudwatch_logs_retention_in_days
      kms_key_id        = var.cloudwatch_logs_kms_key_id
      log_group_class   = var.cloudwatch_logs_log_group_class
      tags              = local.cloudwatch_logs_tags
    }
  }
  # Each function adds its role's ARN (create_role = false), name prefix and inline policy.
  function_role = {
    create               = var.create_role
    path                 = var.role_path
    permissions_boundary = var.role_permissions_boundary
    assume_role_policy   = local.lambda_assume_role_policy
    managed_policy_arns  = local.managed_policy_arns
    tags                 = local.role_tags
  }

  ##############################################################################
  # Tags
  ##############################################################################

  queue_tags                = merge(var.tags, var.queue_tags)
  dead_letter_queue_tags    = merge(var.tags, var.dead_letter_queue_tags)
  function_tags             = merge(var.tags, var.function_tags)
  role_tags                 = merge(var.tags, var.role_tags)
  cloudwatch_logs_tags      = merge(var.tags, var.cloudwatch_logs_tags)
  event_source_mapping_tags = merge(var.tags, var.event_source_mapping_tags)
}

data "aws_partition" "current" {
  count = local.create ? 1 : 0
}
