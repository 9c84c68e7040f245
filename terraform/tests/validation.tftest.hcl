# Bad inputs fail at plan time: variable validations for single values, preconditions for values
# that must agree with each other.

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
    architecture = "arm"
  }

  expect_failures = [var.architecture]
}

run "worker_timeout_above_fifteen_minutes" {
  command = plan

  variables {
    worker_timeout = 901
  }

  expect_failures = [var.worker_timeout]
}

run "worker_environment_sets_module_variable" {
  command = plan

  variables {
    worker_environment_variables = { TASKQUEUE_DLQ_URL = "https://example.com/other" }
  }

  expect_failures = [var.worker_environment_variables]
}

run "consumer_environment_sets_module_variable" {
  command = plan

  variables {
    consumer_environment_variables = { TASKQUEUE_BATCH_SIZE = "3" }
  }

  expect_failures = [var.consumer_environment_variables]
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

  expect_failures = [var.worker_package]
}

run "missing_consumer_package" {
  command = plan

  variables {
    consumer_package = { filename = "tests/fixtures/missing.zip" }
  }

  expect_failures = [var.consumer_package]
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

run "visibility_shorter_than_consumer" {
  command = plan

  variables {
    visibility_timeout_seconds = 45
  }

  expect_failures = [aws_sqs_queue.this]
}

run "visibility_shorter_than_worker_with_event_source_mapping" {
  command = plan

  variables {
    trigger_mode               = "event_source_mapping"
    worker_timeout             = 120
    visibility_timeout_seconds = 60
  }

  expect_failures = [aws_sqs_queue.this]
}

run "fifo_name_without_suffix" {
  command = plan

  variables {
    fifo_queue = true
    queue_name = "orders"
  }

  expect_failures = [aws_sqs_queue.this]
}

run "fifo_dead_letter_queue_name_without_suffix" {
  command = plan

  variables {
    fifo_queue             = true
    dead_letter_queue_name = "orders-dlq"
  }

  expect_failures = [aws_sqs_queue.this]
}

run "standard_name_with_fifo_suffix" {
  command = plan

  variables {
    queue_name = "orders.fifo"
  }

  expect_failures = [aws_sqs_queue.this]
}

run "fifo_setting_on_standard_queue" {
  command = plan

  variables {
    content_based_deduplication = true
  }

  expect_failures = [aws_sqs_queue.this]
}

run "consumer_timeout_not_above_worker" {
  command = plan

  variables {
    consumer_timeout = 30
    worker_timeout   = 30
  }

  expect_failures = [aws_lambda_function.consumer]
}

run "continuous_mode_without_long_poll" {
  command = plan

  variables {
    consumer_mode              = "continuous"
    consumer_wait_time_seconds = 0
  }

  expect_failures = [aws_lambda_function.consumer]
}

run "schedule_without_consumer_package" {
  command = plan

  variables {
    consumer_package = null
  }

  expect_failures = [aws_lambda_function.consumer]
}

run "backoff_base_above_max" {
  command = plan

  variables {
    backoff_base_seconds = 60
    backoff_max_seconds  = 30
  }

  expect_failures = [aws_lambda_function.worker]
}

run "worker_reserved_below_consumer_concurrency" {
  command = plan

  variables {
    worker_reserved_concurrent_executions = 2
    consumer_max_concurrency              = 4
  }

  expect_failures = [aws_lambda_function.worker]
}

run "vpc_subnets_without_security_groups" {
  command = plan

  variables {
    vpc_subnet_ids = ["subnet-0123456789abcdef0"]
  }

  expect_failures = [aws_lambda_function.worker]
}

run "fifo_event_source_mapping_batch_above_ten" {
  command = plan

  variables {
    trigger_mode                                            = "event_source_mapping"
    fifo_queue                                              = true
    event_source_mapping_batch_size                         = 20
    event_source_mapping_maximum_batching_window_in_seconds = 1
  }

  expect_failures = [aws_lambda_event_source_mapping.worker]
}

run "event_source_mapping_large_batch_without_window" {
  command = plan

  variables {
    trigger_mode                    = "event_source_mapping"
    event_source_mapping_batch_size = 100
  }

  expect_failures = [aws_lambda_event_source_mapping.worker]
}
