# Warnings, not errors: a log class or level that drops the dashboard's metrics is a choice the caller
# may make knowingly.

check "metrics_with_infrequent_access_logs" {
  assert {
    condition     = var.cloudwatch_logs_log_group_class != "INFREQUENT_ACCESS" || !var.create_dashboard
    error_message = "cloudwatch_logs_log_group_class = \"INFREQUENT_ACCESS\" extracts no metrics from the logs, and the runtime's metrics are embedded in them (EMF): the dashboard's task, duration and consumer widgets will stay empty."
  }
}

check "metrics_with_an_application_level_above_info" {
  assert {
    condition     = !local.json_logs || contains(["TRACE", "DEBUG", "INFO"], var.logging_application_log_level)
    error_message = "logging_application_log_level = \"${var.logging_application_log_level}\" drops the runtime's metrics: they are embedded in INFO log lines (EMF), which Lambda filters out above INFO, so the dashboard and alarms on them stay empty."
  }
}

check "worker_timeout_leaves_time_to_start_a_task" {
  assert {
    condition     = var.worker_timeout > local.worker_start_reserve_seconds
    error_message = "worker_timeout = ${var.worker_timeout} leaves the worker no time to start a task: it starts none in its last ${local.worker_start_reserve_seconds} s (there it cancels the tasks of a concurrent batch still running and answers), so every message goes back unrun. Raise worker_timeout."
  }
}
