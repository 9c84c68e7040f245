# trigger_mode switches between the scheduled consumer and an event source mapping on the worker.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "schedule" {
  assert {
    condition = alltrue([
      length(module.consumer) == 1,
      module.consumer[0].role != null,
      length(aws_lambda_event_source_mapping.worker) == 0,
    ])
    error_message = "Schedule mode has a consumer and no event source mapping."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_event_rule.consumer_trigger[0].name == "orders-schedule",
      aws_cloudwatch_event_rule.consumer_trigger[0].schedule_expression == "rate(1 minute)",
      aws_cloudwatch_event_rule.consumer_trigger[0].state == "ENABLED",
    ])
    error_message = "The consumer runs every minute by default."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_event_target.consumer_trigger[0].rule == aws_cloudwatch_event_rule.consumer_trigger[0].name,
      aws_cloudwatch_event_target.consumer_trigger[0].arn == module.consumer[0].function.arn,
    ])
    error_message = "The rule targets the consumer."
  }

  assert {
    condition = alltrue([
      aws_lambda_permission.consumer_trigger[0].source_arn == aws_cloudwatch_event_rule.consumer_trigger[0].arn,
      aws_lambda_permission.consumer_trigger[0].principal == "events.amazonaws.com",
      aws_lambda_permission.consumer_trigger[0].action == "lambda:InvokeFunction",
      aws_lambda_permission.consumer_trigger[0].function_name == module.consumer[0].function.function_name,
    ])
    error_message = "Only the schedule rule may invoke the consumer."
  }

  assert {
    condition     = !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_APPLY_BACKOFF")
    error_message = "In schedule mode the consumer applies the backoff, not the worker."
  }

  assert {
    condition     = output.schedule_rule_arn == aws_cloudwatch_event_rule.consumer_trigger[0].arn && output.event_source_mapping_uuid == null
    error_message = "Trigger outputs in schedule mode."
  }
}

run "schedule_settings" {
  variables {
    schedule_expression = "cron(0/5 * * * ? *)"
    schedule_enabled    = false
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_event_rule.consumer_trigger[0].schedule_expression == "cron(0/5 * * * ? *)",
      aws_cloudwatch_event_rule.consumer_trigger[0].state == "DISABLED",
    ])
    error_message = "The schedule can be changed and paused."
  }
}

run "event_source_mapping" {
  variables {
    trigger_mode                                            = "event_source_mapping"
    consumer_package                                        = null
    event_source_mapping_batch_size                         = 100
    event_source_mapping_maximum_batching_window_in_seconds = 5
    event_source_mapping_maximum_concurrency                = 20
    event_source_mapping_metrics_config                     = { metrics = ["EventCount"] }
    event_source_mapping_tags                               = { Component = "trigger" }
    tags                                                    = { Team = "orders" }
  }

  assert {
    condition = alltrue([
      length(module.consumer) == 0,
      length(terraform_data.consumer_settings) == 0,
      length(aws_lambda_function_event_invoke_config.consumer) == 0,
      length(aws_cloudwatch_event_rule.consumer_trigger) == 0,
      length(aws_cloudwatch_event_target.consumer_trigger) == 0,
      length(aws_lambda_permission.consumer_trigger) == 0,
    ])
    error_message = "No consumer, role, rule or permission with an event source mapping."
  }

  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.worker[0].event_source_arn == aws_sqs_queue.this[0].arn,
      aws_lambda_event_source_mapping.worker[0].function_name == module.worker[0].function.arn,
      aws_lambda_event_source_mapping.worker[0].function_response_types == toset(["ReportBatchItemFailures"]),
      aws_lambda_event_source_mapping.worker[0].batch_size == 100,
      aws_lambda_event_source_mapping.worker[0].maximum_batching_window_in_seconds == 5,
      aws_lambda_event_source_mapping.worker[0].scaling_config[0].maximum_concurrency == 20,
      aws_lambda_event_source_mapping.worker[0].enabled,
      aws_lambda_event_source_mapping.worker[0].metrics_config[0].metrics == toset(["EventCount"]),
      length(aws_lambda_event_source_mapping.worker[0].provisioned_poller_config) == 0,
      aws_lambda_event_source_mapping.worker[0].tags == tomap({ Team = "orders", Component = "trigger" }),
    ])
    error_message = "The event source mapping feeds the queue to the worker, which reports partial failures."
  }

  assert {
    condition = module.worker[0].function.environment[0].variables == tomap({
      TASKQUEUE_DLQ_URL              = aws_sqs_queue.dead_letter_queue[0].url
      TASKQUEUE_MAX_RECEIVE_COUNT    = "5"
      TASKQUEUE_ATTEMPTS_TABLE       = aws_dynamodb_table.idempotency[0].name
      TASKQUEUE_APPLY_BACKOFF        = "true"
      TASKQUEUE_QUEUE_URL            = aws_sqs_queue.this[0].url
      TASKQUEUE_TASK_CONCURRENCY     = "100"
      TASKQUEUE_BACKOFF_BASE_SECONDS = "2"
      TASKQUEUE_BACKOFF_MAX_SECONDS  = "900"
      POWERTOOLS_SERVICE_NAME        = "orders"
      POWERTOOLS_METRICS_NAMESPACE   = "TaskQueue"
      POWERTOOLS_LOG_LEVEL           = "INFO"
    })
    error_message = "With an event source mapping the worker applies the backoff on the queue itself."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid    = "ConsumeQueue"
      Effect = "Allow"
      Action = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
      ]
      Resource = aws_sqs_queue.this[0].arn
    })
    error_message = "The worker's role may poll the queue and change the visibility of its messages."
  }

  assert {
    # Six times the worker's 30 s timeout, as AWS recommends for an event source mapping.
    condition     = aws_sqs_queue.this[0].visibility_timeout_seconds == 180
    error_message = "The default visibility timeout leaves room for retries of the worker."
  }

  assert {
    condition = alltrue([
      output.consumer_function_name == null,
      output.consumer_function_arn == null,
      output.consumer_role_name == null,
      output.consumer_role_arn == null,
      output.schedule_rule_arn == null,
      output.event_source_mapping_uuid == aws_lambda_event_source_mapping.worker[0].uuid,
      output.event_source_mapping_arn == aws_lambda_event_source_mapping.worker[0].arn,
    ])
    error_message = "Consumer and schedule outputs are null with an event source mapping."
  }
}

run "event_source_mapping_defaults" {
  variables {
    trigger_mode     = "event_source_mapping"
    consumer_package = null
  }

  assert {
    # maximum_batching_window_in_seconds is not computed: null is what the module passed (tests/mocks).
    condition = alltrue([
      aws_lambda_event_source_mapping.worker[0].batch_size == 10,
      aws_lambda_event_source_mapping.worker[0].maximum_batching_window_in_seconds == null,
      length(aws_lambda_event_source_mapping.worker[0].scaling_config) == 0,
      length(aws_lambda_event_source_mapping.worker[0].metrics_config) == 0,
    ])
    error_message = "Without a maximum concurrency there is no scaling_config, and no metrics unless asked for."
  }

  assert {
    # Lambda's init allowance (10 s) is not counted in the worker's 30 s: 6 x 30 covers it.
    condition     = aws_sqs_queue.this[0].visibility_timeout_seconds == 180
    error_message = "Six times the worker's timeout, as AWS recommends."
  }
}

run "event_source_mapping_short_worker" {
  variables {
    trigger_mode     = "event_source_mapping"
    consumer_package = null
    worker_timeout   = 1
  }

  # The worker keeps its last second to answer in: a 1 s worker starts no task (a warning).
  expect_failures = [check.worker_timeout_leaves_time_to_start_a_task]

  assert {
    # 6 x 1 s would not cover a cold start: the default covers worker_timeout + 10.
    condition     = aws_sqs_queue.this[0].visibility_timeout_seconds == 11
    error_message = "The default visibility covers the worker's timeout plus Lambda's init allowance."
  }
}

run "event_source_mapping_paused_in_provisioned_mode" {
  variables {
    trigger_mode                                   = "event_source_mapping"
    consumer_package                               = null
    event_source_mapping_enabled                   = false
    event_source_mapping_provisioned_poller_config = { minimum_pollers = 2, maximum_pollers = 4 }
    worker_reserved_concurrent_executions          = 40
  }

  assert {
    condition = alltrue([
      !aws_lambda_event_source_mapping.worker[0].enabled,
      aws_lambda_event_source_mapping.worker[0].provisioned_poller_config[0].minimum_pollers == 2,
      aws_lambda_event_source_mapping.worker[0].provisioned_poller_config[0].maximum_pollers == 4,
      length(aws_lambda_event_source_mapping.worker[0].scaling_config) == 0,
      module.worker[0].function.reserved_concurrent_executions == 40,
    ])
    error_message = "The mapping can be paused, and run dedicated pollers (4 pollers, 10 invocations each, within a reserve of 40)."
  }
}

run "back_to_schedule" {
  assert {
    condition = alltrue([
      length(module.consumer) == 1,
      length(aws_lambda_event_source_mapping.worker) == 0,
      !contains([for statement in jsondecode(module.worker[0].role_policy.policy).Statement : statement.Sid], "ConsumeQueue"),
    ])
    error_message = "Switching back removes the event source mapping and the worker's right to poll."
  }
}

run "event_source_mapping_large_batch_caps_task_concurrency" {
  command = plan

  variables {
    trigger_mode                                            = "event_source_mapping"
    consumer_package                                        = null
    event_source_mapping_batch_size                         = 1000
    event_source_mapping_maximum_batching_window_in_seconds = 5
  }

  assert {
    # A task running at once holds a thread: the default is the batch size, at most 256.
    condition     = module.worker[0].function.environment[0].variables["TASKQUEUE_TASK_CONCURRENCY"] == "256"
    error_message = "Unset, worker_task_concurrency is the batch size, at most 256."
  }
}
