# Bad single inputs fail at plan time, each on its variable's validation, with a message naming it.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "name_with_dots" {
  command = plan

  variables {
    name = "orders.v2"
  }

  expect_failures = [var.name]
}

run "unknown_trigger_mode" {
  command = plan

  variables {
    trigger_mode = "sqs"
  }

  expect_failures = [var.trigger_mode]
}

run "consumer_batch_size_above_ten" {
  command = plan

  variables {
    consumer_batch_size = 11
  }

  expect_failures = [var.consumer_batch_size]
}

run "consumer_max_concurrency_zero" {
  command = plan

  variables {
    consumer_max_concurrency = 0
  }

  expect_failures = [var.consumer_max_concurrency]
}

run "consumer_wait_time_above_twenty" {
  command = plan

  variables {
    consumer_wait_time_seconds = 21
  }

  expect_failures = [var.consumer_wait_time_seconds]
}

run "unknown_consumer_mode" {
  command = plan

  variables {
    consumer_mode = "forever"
  }

  expect_failures = [var.consumer_mode]
}

run "event_source_mapping_concurrency_below_two" {
  command = plan

  variables {
    event_source_mapping_maximum_concurrency = 1
  }

  expect_failures = [var.event_source_mapping_maximum_concurrency]
}

run "event_source_mapping_batch_size_above_limit" {
  command = plan

  variables {
    event_source_mapping_batch_size = 10001
  }

  expect_failures = [var.event_source_mapping_batch_size]
}

run "retention_below_a_minute" {
  command = plan

  variables {
    message_retention_seconds = 59
  }

  expect_failures = [var.message_retention_seconds]
}

run "retention_above_fourteen_days" {
  command = plan

  variables {
    message_retention_seconds = 1209601
  }

  expect_failures = [var.message_retention_seconds]
}

run "delay_above_fifteen_minutes" {
  command = plan

  variables {
    delay_seconds = 901
  }

  expect_failures = [var.delay_seconds]
}

run "receive_wait_above_twenty" {
  command = plan

  variables {
    receive_wait_time_seconds = 21
  }

  expect_failures = [var.receive_wait_time_seconds]
}

run "message_size_above_one_mebibyte" {
  command = plan

  variables {
    max_message_size = 1048577
  }

  expect_failures = [var.max_message_size]
}

run "visibility_above_twelve_hours" {
  command = plan

  variables {
    visibility_timeout_seconds = 43201
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "max_receive_count_zero" {
  command = plan

  variables {
    max_receive_count = 0
  }

  expect_failures = [var.max_receive_count]
}

run "kms_alias_instead_of_key_arn" {
  command = plan

  variables {
    kms_master_key_id = "alias/orders"
  }

  expect_failures = [var.kms_master_key_id]
}

run "producer_not_a_principal" {
  command = plan

  variables {
    producer_principals = ["orders-producer"]
  }

  expect_failures = [var.producer_principals]
}

run "unsupported_runtime" {
  command = plan

  variables {
    runtime = "python3.9"
  }

  expect_failures = [var.runtime]
}

run "unknown_architecture" {
  command = plan

  variables {
    architectures = ["arm"]
  }

  expect_failures = [var.architectures]
}

run "worker_timeout_above_fifteen_minutes" {
  command = plan

  variables {
    worker_timeout = 901
  }

  expect_failures = [var.worker_timeout]
}

run "worker_task_concurrency_above_the_thread_budget" {
  command = plan

  variables {
    worker_task_concurrency = 257
  }

  expect_failures = [var.worker_task_concurrency]
}

run "worker_task_concurrency_not_whole" {
  command = plan

  variables {
    worker_task_concurrency = 2.5
  }

  expect_failures = [var.worker_task_concurrency]
}

run "task_modules_not_module_names" {
  command = plan

  variables {
    task_modules = ["orders/tasks.py"]
  }

  expect_failures = [var.task_modules]
}

run "missing_worker_package" {
  command = plan

  variables {
    worker_package = { filename = "tests/fixtures/missing.zip" }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "missing_consumer_package" {
  command = plan

  variables {
    consumer_package = { filename = "tests/fixtures/missing.zip" }
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "log_retention_not_accepted" {
  command = plan

  variables {
    cloudwatch_logs_retention_in_days = 10
  }

  expect_failures = [var.cloudwatch_logs_retention_in_days]
}

run "statement_id_with_spaces" {
  command = plan

  variables {
    worker_policy_statements = { "write archive" = { actions = ["s3:PutObject"], resources = ["arn:aws:s3:::archive/*"] } }
  }

  expect_failures = [var.worker_policy_statements]
}

run "idempotency_ttl_below_a_minute" {
  command = plan

  variables {
    idempotency_ttl_seconds = 59
  }

  expect_failures = [var.idempotency_ttl_seconds]
}

run "alarm_period_not_whole_minutes" {
  command = plan

  variables {
    alarm_period_seconds = 90
  }

  expect_failures = [var.alarm_period_seconds]
}

run "idempotency_table_name_with_spaces" {
  command = plan

  variables {
    idempotency_table_name = "orders idempotency"
  }

  expect_failures = [var.idempotency_table_name]
}

run "metrics_namespace_of_aws" {
  command = plan

  variables {
    metrics_namespace = "AWS/Lambda"
  }

  expect_failures = [var.metrics_namespace]
}

run "role_path_without_slashes" {
  command = plan

  variables {
    role_path = "taskqueue"
  }

  expect_failures = [var.role_path]
}

run "backoff_above_twelve_hours" {
  command = plan

  variables {
    backoff_max_seconds = 43201
  }

  expect_failures = [var.backoff_max_seconds]
}

run "time_margin_not_a_number" {
  command = plan

  variables {
    consumer_environment_variables = { TASKQUEUE_TIME_MARGIN_SECONDS = "two" }
  }

  expect_failures = [var.consumer_environment_variables]
}

run "event_source_mapping_pollers_out_of_range" {
  command = plan

  variables {
    event_source_mapping_provisioned_poller_config = { minimum_pollers = 1 }
  }

  expect_failures = [var.event_source_mapping_provisioned_poller_config]
}

run "event_source_mapping_unknown_metrics" {
  command = plan

  variables {
    event_source_mapping_metrics_config = { metrics = ["KafkaMetrics"] }
  }

  expect_failures = [var.event_source_mapping_metrics_config]
}

run "role_arn_not_a_role" {
  command = plan

  variables {
    worker_role_arn = "arn:aws:iam::111122223333:user/orders"
  }

  expect_failures = [var.worker_role_arn]
}

run "two_architectures" {
  command = plan

  variables {
    architectures = ["arm64", "x86_64"]
  }

  expect_failures = [var.architectures]
}

run "unknown_application_log_level" {
  command = plan

  variables {
    logging_application_log_level = "WARNING"
  }

  expect_failures = [var.logging_application_log_level]
}

run "package_from_file_and_s3" {
  command = plan

  variables {
    worker_package = { filename = "tests/fixtures/placeholder.zip", s3_bucket = "artifacts", s3_key = "worker.zip" }
  }

  expect_failures = [var.worker_package]
}

run "package_s3_key_without_bucket" {
  command = plan

  variables {
    consumer_package = { s3_key = "consumer.zip" }
  }

  expect_failures = [var.consumer_package]
}

run "queue_statement_with_module_sid" {
  command = plan

  variables {
    queue_policy_statements = {
      AllowProducers = {
        actions    = ["sqs:SendMessage"]
        principals = [{ type = "AWS", identifiers = ["444455556666"] }]
      }
    }
  }

  expect_failures = [var.queue_policy_statements]
}

run "queue_statement_beyond_sqs" {
  command = plan

  variables {
    queue_policy_statements = {
      Everything = {
        actions    = ["s3:GetObject"]
        principals = [{ type = "AWS", identifiers = ["444455556666"] }]
      }
    }
  }

  expect_failures = [var.queue_policy_statements]
}

run "worker_environment_sets_attempts_table" {
  command = plan

  variables {
    worker_environment_variables = { TASKQUEUE_ATTEMPTS_TABLE = "elsewhere" }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "dashboard_name_with_spaces" {
  command = plan

  variables {
    dashboard_name = "orders dashboard"
  }

  expect_failures = [var.dashboard_name]
}

run "metrics_namespace_with_quotes" {
  command = plan

  variables {
    metrics_namespace = "Orders\"Tasks"
  }

  expect_failures = [var.metrics_namespace]
}

run "schedule_group_name_with_spaces" {
  command = plan

  variables {
    schedule_group_name = "my schedules"
  }

  expect_failures = [var.schedule_group_name]
}

run "scheduler_role_arn_not_a_role" {
  command = plan

  variables {
    scheduler_role_arn = "orders-scheduler"
  }

  expect_failures = [var.scheduler_role_arn]
}

run "periodic_task_name_with_spaces" {
  command = plan

  variables {
    periodic_tasks = { "nightly report" = { schedule = "rate(1 day)", task = "report" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_an_unknown_attribute" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", paylod = { kind = "daily" } } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_without_a_task" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "rate(1 day)" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_a_five_field_cron" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "cron(0 3 * * *)", task = "report" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_two_day_fields" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "cron(0 3 * * MON *)", task = "report" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_a_rate_of_seconds" {
  command = plan

  variables {
    periodic_tasks = { fast = { schedule = "rate(30 seconds)", task = "tick" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_a_one_time_schedule" {
  command = plan

  variables {
    periodic_tasks = { once = { schedule = "at(2030-01-01T00:00:00)", task = "tick" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_enabled_not_a_bool" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", enabled = "sometimes" } }
  }

  expect_failures = [var.periodic_tasks]
}

# EventBridge: "If the value is equal to 1, then the unit must be singular. If the value is greater
# than 1, the unit must be plural" (the rate expressions reference); the value is positive.
run "schedule_expression_with_a_singular_unit_over_one" {
  command = plan

  variables {
    schedule_expression = "rate(5 minute)"
  }

  expect_failures = [var.schedule_expression]
}

run "schedule_expression_with_a_rate_of_zero" {
  command = plan

  variables {
    schedule_expression = "rate(0 minutes)"
  }

  expect_failures = [var.schedule_expression]
}

run "schedule_expression_with_a_plural_unit_for_one" {
  command = plan

  variables {
    schedule_expression = "rate(1 minutes)"
  }

  expect_failures = [var.schedule_expression]
}

run "periodic_task_with_a_singular_unit_over_one" {
  command = plan

  variables {
    periodic_tasks = { tick = { schedule = "rate(5 minute)", task = "tick" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "periodic_task_with_a_plural_unit_for_one" {
  command = plan

  variables {
    periodic_tasks = { tick = { schedule = "rate(1 minutes)", task = "tick" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "rate_expressions_as_eventbridge_takes_them" {
  command = plan

  variables {
    schedule_expression = "rate(1 minute)"
    periodic_tasks = {
      every_hour   = { schedule = "rate(1 hour)", task = "tick" }
      every_day    = { schedule = "rate(1 day)", task = "tick" }
      every_10_min = { schedule = "rate(10 minutes)", task = "tick" }
      every_2_days = { schedule = "rate(2 days)", task = "tick" }
    }
  }
}

run "a_consumer_rate_of_hours" {
  command = plan

  variables {
    schedule_expression = "rate(12 hours)"
    consumer_timeout    = 60
  }
}

# 0 reserves no concurrency at all: the consumer would never run, and messages expire unseen.
run "consumer_reserved_concurrency_of_zero" {
  command = plan

  variables {
    consumer_reserved_concurrent_executions = 0
  }

  expect_failures = [var.consumer_reserved_concurrent_executions]
}

# SQS event source mappings take 2 to 10,000 maximum pollers (Lambda's ProvisionedPollerConfig); the
# module stops there. (Provider 5.100 itself still caps the argument at 2,000: see the README.)
run "maximum_pollers_over_ten_thousand" {
  command = plan

  variables {
    trigger_mode                                   = "event_source_mapping"
    event_source_mapping_provisioned_poller_config = { maximum_pollers = 10001 }
  }

  expect_failures = [var.event_source_mapping_provisioned_poller_config]
}
