# Warnings, not errors: a deprecated input still works for one release, and a log class that drops
# the dashboard's metrics is a choice the caller may make knowingly.

check "deprecated_architecture" {
  assert {
    condition     = var.architecture == null
    error_message = "architecture is deprecated and will be removed in the next release: use architectures = [\"${coalesce(var.architecture, "arm64")}\"] instead."
  }
}

check "deprecated_log_level" {
  assert {
    condition     = var.log_level == null
    error_message = "log_level is deprecated and will be removed in the next release: use logging_application_log_level = \"${local.application_log_level}\" instead (Lambda's level names)."
  }
}

check "metrics_with_infrequent_access_logs" {
  assert {
    condition     = var.cloudwatch_logs_log_group_class != "INFREQUENT_ACCESS" || !var.create_dashboard
    error_message = "cloudwatch_logs_log_group_class = \"INFREQUENT_ACCESS\" extracts no metrics from the logs, and the runtime's metrics are embedded in them (EMF): the dashboard's task, duration and consumer widgets will stay empty."
  }
}

check "metrics_with_an_application_level_above_info" {
  assert {
    condition     = !local.json_logs || contains(["TRACE", "DEBUG", "INFO"], local.application_log_level)
    error_message = "logging_application_log_level = \"${local.application_log_level}\" drops the runtime's metrics: they are embedded in INFO log lines (EMF), which Lambda filters out above INFO, so the dashboard and alarms on them stay empty."
  }
}
