# How tasks reach the worker (var.trigger_mode), decided here and nowhere else: every other file reads
# local.trigger's attributes, and the consumer's resources count on local.consumer.
#
# - schedule: an EventBridge rule (consumer_trigger.tf) starts the consumer (consumer.tf), which
#   long-polls the queue and invokes the worker. The input's value predates the names here: it is
#   kept, as it is public.
# - event_source_mapping: Lambda polls the queue and invokes the worker itself (event_source_mapping.tf).
#
# A new mode is one more entry below (every attribute), its value in the input's validation
# (variables.tf) and the file of its resources.

locals {
  trigger_modes = {
    schedule = {
      consumer             = true
      event_source_mapping = false
      # The consumer holds a received batch for its whole run.
      required_visibility_timeout = var.consumer_timeout
      default_visibility_timeout  = var.consumer_timeout
      # What visibility_timeout_seconds must be at least, and why (queue.tf's precondition).
      visibility_timeout_minimum = "consumer_timeout (${var.consumer_timeout}): the consumer holds a batch for its whole run"
      # Each overlapping run invokes up to consumer_max_concurrency workers at once.
      worker_concurrency_needed = var.consumer_max_concurrency * local.overlapping_consumer_runs
      worker_concurrency_error  = "worker_reserved_concurrent_executions (${coalesce(var.worker_reserved_concurrent_executions, 0)}) must allow ${var.consumer_max_concurrency * local.overlapping_consumer_runs} concurrent worker invocations: consumer_max_concurrency (${var.consumer_max_concurrency}) times ${local.overlapping_consumer_runs} overlapping consumer runs (consumer_timeout ${var.consumer_timeout} s, one run every ${local.consumer_trigger_period_seconds} s). Raise the reserve, lower consumer_max_concurrency, or cap the runs with consumer_reserved_concurrent_executions."
      # The consumer receives and delays retries; the worker only runs what it is handed.
      worker_polls_queue = false
      # The most messages one worker invocation gets, and the input that sets it.
      worker_batch_size       = var.consumer_batch_size
      worker_batch_size_input = "consumer_batch_size"
    }
    event_source_mapping = {
      consumer             = false
      event_source_mapping = true
      # The worker holds a batch, cold start included; AWS recommends six times the function's
      # timeout, which leaves room for retries of throttled invocations.
      required_visibility_timeout = local.longest_worker_invocation
      default_visibility_timeout  = min(max(6 * var.worker_timeout, local.longest_worker_invocation), 43200)
      visibility_timeout_minimum  = "worker_timeout + ${local.lambda_init_seconds} (${local.longest_worker_invocation}): Lambda's init allowance is not counted in the timeout"
      # The mappings' cap, when the inputs set one (null: unbounded); with priorities, the sum of their shares.
      worker_concurrency_needed = local.event_source_mapping_concurrency
      worker_concurrency_error = join("", [
        "With an event source mapping, worker_reserved_concurrent_executions (${coalesce(var.worker_reserved_concurrent_executions, 0)}) needs a cap on the mapping's invocations at or below it, since the mapping counts throttles as receives: set event_source_mapping_maximum_concurrency (or, in provisioned mode, event_source_mapping_provisioned_poller_config.maximum_pollers, 10 invocations each) so that at most ${coalesce(var.worker_reserved_concurrent_executions, 0)} run at once",
        !local.priorities_enabled ? "" : "; with priorities, what runs at once is the sum of the mappings' MaximumConcurrency, each priority's share of event_source_mapping_maximum_concurrency by weight, at least 2",
        local.event_source_mapping_concurrency == null ? "" : (local.priorities_enabled && var.event_source_mapping_provisioned_poller_config == null
          ? ": ${join(" + ", [for name, concurrency in local.priority_mapping_concurrency : "${name} ${concurrency}" if concurrency != null])} = ${local.event_source_mapping_concurrency} now"
          : "; it allows ${local.event_source_mapping_concurrency} now"
        ),
        ".",
      ])
      # The mapping polls with the worker's role, and the worker sets the backoff of its failed records.
      worker_polls_queue = true
      # The most messages one worker invocation gets, and the input that sets it.
      worker_batch_size       = var.event_source_mapping_batch_size
      worker_batch_size_input = "event_source_mapping_batch_size"
    }
  }

  trigger = local.trigger_modes[var.trigger_mode]

  # Whether this configuration creates the consumer (with its trigger) or the event source mapping.
  consumer             = local.create && local.trigger.consumer
  event_source_mapping = local.create && local.trigger.event_source_mapping
}
