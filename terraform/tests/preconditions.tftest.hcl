# Inputs that must agree with each other fail at plan time on a resource's precondition, whose message
# says what to do. Each run trips exactly one precondition (tests/test_terraform.py checks it: a
# resource's other preconditions would hide behind expect_failures), plus a check's warning where
# one is involved.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
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

  expect_failures = [terraform_data.consumer_settings]
}

run "consumer_timeout_one_second_short_of_a_worker_invocation" {
  command = plan

  # 30 + 10 (init) + 2 (answer) + 2 (margin) + 1 (poll) = 45: 44 leaves no room to wait for one.
  variables {
    consumer_timeout = 44
    worker_timeout   = 30
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "consumer_timeout_short_of_a_larger_time_margin" {
  command = plan

  # 30 + 10 + 2 + 20 + 1 = 63 > 60.
  variables {
    consumer_environment_variables = { TASKQUEUE_TIME_MARGIN_SECONDS = "20" }
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "continuous_mode_without_long_poll" {
  command = plan

  variables {
    consumer_mode              = "continuous"
    consumer_wait_time_seconds = 0
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "schedule_without_consumer_package" {
  command = plan

  variables {
    consumer_package = null
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "backoff_base_above_max" {
  command = plan

  variables {
    backoff_base_seconds = 60
    backoff_max_seconds  = 30
  }

  expect_failures = [terraform_data.worker_settings]
}

run "worker_reserved_below_consumer_concurrency" {
  command = plan

  variables {
    worker_reserved_concurrent_executions = 2
    consumer_max_concurrency              = 4
  }

  expect_failures = [terraform_data.worker_settings]
}

run "vpc_subnets_without_security_groups" {
  command = plan

  variables {
    vpc_subnet_ids = ["subnet-0123456789abcdef0"]
  }

  expect_failures = [terraform_data.worker_settings]
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

run "worker_reserved_below_overlapping_consumer_runs" {
  command = plan

  # A 300 s consumer started every minute: up to 5 runs at once, 4 invocations each, need 20.
  variables {
    consumer_timeout                      = 300
    worker_reserved_concurrent_executions = 8
  }

  expect_failures = [terraform_data.worker_settings]
}

run "event_source_mapping_reserve_without_maximum_concurrency" {
  command = plan

  # Throttles count as receives: without a cap the mapping would dead-letter messages unrun.
  variables {
    trigger_mode                          = "event_source_mapping"
    consumer_package                      = null
    worker_reserved_concurrent_executions = 10
  }

  expect_failures = [terraform_data.worker_settings]
}

run "event_source_mapping_maximum_concurrency_above_reserve" {
  command = plan

  variables {
    trigger_mode                             = "event_source_mapping"
    consumer_package                         = null
    worker_reserved_concurrent_executions    = 10
    event_source_mapping_maximum_concurrency = 20
  }

  expect_failures = [terraform_data.worker_settings]
}

run "event_source_mapping_pollers_above_reserve" {
  command = plan

  # 4 provisioned pollers invoke up to 40 at once.
  variables {
    trigger_mode                                   = "event_source_mapping"
    consumer_package                               = null
    worker_reserved_concurrent_executions          = 30
    event_source_mapping_provisioned_poller_config = { minimum_pollers = 2, maximum_pollers = 4 }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "event_source_mapping_two_scaling_modes" {
  command = plan

  variables {
    trigger_mode                                   = "event_source_mapping"
    consumer_package                               = null
    event_source_mapping_maximum_concurrency       = 20
    event_source_mapping_provisioned_poller_config = { maximum_pollers = 4 }
  }

  expect_failures = [aws_lambda_event_source_mapping.worker]
}

run "event_source_mapping_priorities_with_provisioned_pollers" {
  command = plan

  variables {
    trigger_mode                                   = "event_source_mapping"
    consumer_package                               = null
    priorities                                     = [{ name = "high" }, { name = "low" }]
    event_source_mapping_provisioned_poller_config = { maximum_pollers = 4 }
  }

  expect_failures = [aws_lambda_event_source_mapping.priority]
}

run "event_source_mapping_pollers_minimum_above_maximum" {
  command = plan

  variables {
    trigger_mode                                   = "event_source_mapping"
    consumer_package                               = null
    event_source_mapping_provisioned_poller_config = { minimum_pollers = 10, maximum_pollers = 4 }
  }

  expect_failures = [aws_lambda_event_source_mapping.worker]
}

run "high_throughput_fifo_with_queue_deduplication" {
  command = plan

  variables {
    fifo_queue            = true
    fifo_throughput_limit = "perMessageGroupId"
    deduplication_scope   = "queue"
  }

  expect_failures = [aws_sqs_queue.this]
}

run "own_roles_without_worker_role" {
  command = plan

  variables {
    create_role        = false
    scheduler_role_arn = "arn:aws:iam::111122223333:role/orders-scheduler"
    consumer_role_arn  = "arn:aws:iam::111122223333:role/orders-consumer"
  }

  expect_failures = [terraform_data.worker_settings]
}

run "own_roles_without_consumer_role" {
  command = plan

  variables {
    create_role        = false
    scheduler_role_arn = "arn:aws:iam::111122223333:role/orders-scheduler"
    worker_role_arn    = "arn:aws:iam::111122223333:role/orders-worker"
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "role_arn_with_module_roles" {
  command = plan

  # The role would be ignored: say so rather than run with another one.
  variables {
    worker_role_arn = "arn:aws:iam::111122223333:role/orders-worker"
  }

  expect_failures = [terraform_data.worker_settings]
}

run "task_policies_with_own_roles" {
  command = plan

  variables {
    create_role              = false
    scheduler_role_arn       = "arn:aws:iam::111122223333:role/orders-scheduler"
    consumer_role_arn        = "arn:aws:iam::111122223333:role/orders-consumer"
    worker_role_arn          = "arn:aws:iam::111122223333:role/orders-worker"
    worker_policy_statements = { WriteArchive = { actions = ["s3:PutObject"], resources = ["arn:aws:s3:::orders-archive/*"] } }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "system_log_level_with_text_logs" {
  command = plan

  variables {
    logging_log_format       = "Text"
    logging_system_log_level = "WARN"
  }

  expect_failures = [terraform_data.worker_settings]
}

run "alarm_needs_more_datapoints_than_it_evaluates" {
  command = plan

  variables {
    alarm_evaluation_periods  = 2
    alarm_datapoints_to_alarm = 3
  }

  expect_failures = [aws_cloudwatch_metric_alarm.this]
}

run "more_attempts_than_receives" {
  command = plan

  variables {
    max_receive_count = 3
    max_attempts      = 4
  }

  expect_failures = [terraform_data.worker_settings]
}

run "more_receivers_than_worker_slots" {
  command = plan

  variables {
    consumer_max_concurrency = 2
    consumer_receivers       = 3
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "periodic_task_in_an_unknown_time_zone" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "cron(0 3 * * ? *)", timezone = "Europe/Berln", task = "report" } }
  }

  expect_failures = [aws_scheduler_schedule.periodic]
}

run "periodic_task_payload_too_large_once_wrapped" {
  command = plan

  variables {
    max_message_size = 1024
    # 720 characters, each wrapped as \u003c: far over 1024 bytes less 256 for a dead letter's reason.
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", payload = { note = join("", [for n in range(720) : "<"]) } } }
  }

  expect_failures = [aws_scheduler_schedule.periodic]
}

run "fifo_periodic_task_without_group" {
  command = plan

  variables {
    fifo_queue                  = true
    content_based_deduplication = true
    periodic_tasks              = { nightly = { schedule = "rate(1 day)", task = "report" } }
  }

  expect_failures = [aws_scheduler_schedule.periodic]
}

run "standard_periodic_task_with_group" {
  command = plan

  variables {
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", group_id = "g" } }
  }

  expect_failures = [aws_scheduler_schedule.periodic]
}

run "fifo_periodic_task_without_content_based_deduplication" {
  command = plan

  variables {
    fifo_queue     = true
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", group_id = "g" } }
  }

  expect_failures = [aws_scheduler_schedule.periodic]
}

run "own_roles_without_scheduler_role" {
  command = plan

  variables {
    create_role       = false
    consumer_role_arn = "arn:aws:iam::111122223333:role/orders-consumer"
    worker_role_arn   = "arn:aws:iam::111122223333:role/orders-worker"
  }

  expect_failures = [aws_scheduler_schedule_group.this]
}

run "scheduler_role_arn_with_module_roles" {
  command = plan

  variables {
    scheduler_role_arn = "arn:aws:iam::111122223333:role/orders-scheduler"
  }

  expect_failures = [aws_scheduler_schedule_group.this]
}

# The module's environment variables are the keys of its own settings (worker.tf, consumer.tf),
# those this configuration leaves unset included: the extra variables may set none of them.
run "worker_environment_sets_module_variable" {
  command = plan

  variables {
    worker_environment_variables = { TASKQUEUE_DLQ_URL = "https://example.com/other" }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "worker_environment_sets_a_variable_of_the_other_mode" {
  command = plan

  variables {
    # Set by the module with an event source mapping only: a consumer's worker must not apply backoff.
    worker_environment_variables = { TASKQUEUE_APPLY_BACKOFF = "true" }
  }

  expect_failures = [terraform_data.worker_settings]
}

run "consumer_environment_sets_module_variable" {
  command = plan

  variables {
    consumer_environment_variables = { TASKQUEUE_BATCH_SIZE = "3" }
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "consumer_environment_sets_an_unset_module_variable" {
  command = plan

  variables {
    # consumer_wait_time_seconds is unset: the module leaves the variable out, and it stays the input's.
    consumer_environment_variables = { TASKQUEUE_WAIT_TIME_SECONDS = "3" }
  }

  expect_failures = [terraform_data.consumer_settings]
}

run "task_concurrency_above_batch_size" {
  command = plan

  variables {
    consumer_batch_size     = 5
    worker_task_concurrency = 6
  }

  expect_failures = [terraform_data.worker_settings]
}

run "event_source_mapping_priority_shares_above_reserve" {
  command = plan

  # The cap is within the reserve, but the mappings' shares are not: 9 + 2, each at least 2.
  variables {
    trigger_mode                             = "event_source_mapping"
    consumer_package                         = null
    priorities                               = [{ name = "high", weight = 10 }, { name = "low" }]
    worker_reserved_concurrent_executions    = 10
    event_source_mapping_maximum_concurrency = 10
  }

  expect_failures = [terraform_data.worker_settings]
}

run "more_queues_than_a_redrive_allow_policy_lists" {
  command = plan

  # SQS lists at most 10 source queues in a redrive-allow policy: 11 priorities make 11 queues.
  variables {
    priorities = [for n in range(11) : { name = "p${n}" }]
  }

  expect_failures = [aws_sqs_queue_redrive_allow_policy.dead_letter_queue]
}
