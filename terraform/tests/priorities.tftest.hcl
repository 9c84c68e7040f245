# priorities: one queue per priority, all with the module's DLQ; the default priority keeps the module's queue.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "no_priorities_is_one_queue_as_before" {
  assert {
    condition = alltrue([
      length(aws_sqs_queue.priority) == 0,
      length(aws_sqs_queue_policy.priority) == 0,
      length(aws_lambda_event_source_mapping.priority) == 0,
      length(output.queue_urls) == 0,
      !contains(keys(module.consumer[0].function.environment[0].variables), "TASKQUEUE_PRIORITY_QUEUES"),
      !contains(keys(module.consumer[0].function.environment[0].variables), "TASKQUEUE_RECEIVE_ORDER"),
    ])
    error_message = "Without priorities the module creates no priority queue and sets no priority variable."
  }
}

run "priorities_behind_the_consumer" {
  variables {
    priorities       = [{ name = "high", weight = 3 }, { name = "normal" }, { name = "low" }]
    priority_order   = "weighted"
    default_priority = "normal"
    create_dashboard = true
  }

  assert {
    condition     = toset(keys(aws_sqs_queue.priority)) == toset(["high", "low"]) && aws_sqs_queue.priority["high"].name == "orders-high"
    error_message = "Every priority but the default gets a queue named <name>-<priority>; the default keeps the module's queue."
  }

  assert {
    condition = alltrue([for queue in aws_sqs_queue.priority : jsondecode(queue.redrive_policy) == {
      deadLetterTargetArn = aws_sqs_queue.dead_letter_queue[0].arn
      maxReceiveCount     = 5
    }])
    error_message = "Every priority queue dead-letters into the module's one DLQ."
  }

  assert {
    condition = alltrue([
      aws_sqs_queue.priority["high"].visibility_timeout_seconds == aws_sqs_queue.this[0].visibility_timeout_seconds,
      aws_sqs_queue.priority["high"].message_retention_seconds == aws_sqs_queue.this[0].message_retention_seconds,
    ])
    error_message = "A priority queue has the module queue's settings."
  }

  assert {
    condition     = [for queue in jsondecode(module.consumer[0].function.environment[0].variables["TASKQUEUE_PRIORITY_QUEUES"]) : [queue.priority, queue.weight]] == [["high", 3], ["normal", 1], ["low", 1]]
    error_message = "The consumer gets every priority queue, highest first, with its weight."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.environment[0].variables["TASKQUEUE_RECEIVE_ORDER"] == "weighted",
      jsondecode(module.consumer[0].function.environment[0].variables["TASKQUEUE_PRIORITY_QUEUES"])[1].queue_url == aws_sqs_queue.this[0].url,
      module.consumer[0].function.environment[0].variables["TASKQUEUE_QUEUE_URL"] == aws_sqs_queue.this[0].url,
    ])
    error_message = "The default priority's queue is the module's own, and the receive order is the input's."
  }

  assert {
    condition     = keys(output.queue_urls) == ["high", "low", "normal"] && output.queue_urls["normal"] == aws_sqs_queue.this[0].url
    error_message = "queue_urls maps every priority to its queue."
  }

  assert {
    condition     = contains(keys(aws_cloudwatch_metric_alarm.this), "oldest_message_age_high") && contains(keys(aws_cloudwatch_metric_alarm.this), "oldest_message_age_low")
    error_message = "Every priority queue has its oldest-message alarm."
  }

  assert {
    condition     = [for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [for metric in widget.properties.metrics : metric[3]] if widget.properties.title == "Priority queues: waiting"] == [["orders-high", "orders-low", "orders"]]
    error_message = "The dashboard shows every priority queue's backlog."
  }

  assert {
    condition     = [for statement in jsondecode(module.consumer[0].role_policy.policy).Statement : length(statement.Resource) if statement.Sid == "ConsumeQueue"] == [3]
    error_message = "The consumer may receive from every priority queue."
  }
}

run "priorities_behind_event_source_mappings" {
  variables {
    trigger_mode                             = "event_source_mapping"
    consumer_package                         = null
    priorities                               = [{ name = "high", weight = 3 }, { name = "low" }]
    event_source_mapping_maximum_concurrency = 8
  }

  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.priority["high"].scaling_config[0].maximum_concurrency == 6,
      aws_lambda_event_source_mapping.worker[0].scaling_config[0].maximum_concurrency == 2,
      aws_lambda_event_source_mapping.priority["high"].event_source_arn == aws_sqs_queue.priority["high"].arn,
      length(aws_lambda_event_source_mapping.priority) == 1,
    ])
    error_message = "One mapping per queue, MaximumConcurrency in proportion to the weights (8 as 6 + 2); the default priority (the last) keeps the module's mapping."
  }

  assert {
    condition     = length(jsondecode(module.worker[0].function.environment[0].variables["TASKQUEUE_PRIORITY_QUEUES"])) == 2
    error_message = "Behind mappings the worker knows every priority queue, to settle each record on its own."
  }
}

run "bad_priorities_are_refused" {
  command = plan

  variables {
    priorities = [{ name = "High" }, { name = "low", weight = 0 }]
  }

  expect_failures = [var.priorities]
}

run "a_default_priority_not_among_them_and_an_unknown_order_are_refused" {
  command = plan

  variables {
    priorities       = [{ name = "high" }, { name = "low" }]
    default_priority = "urgent"
    priority_order   = "fastest"
  }

  expect_failures = [var.default_priority, var.priority_order]
}

run "a_periodic_task_of_an_unknown_priority_is_refused" {
  command = plan

  variables {
    priorities     = [{ name = "high" }, { name = "low" }]
    periodic_tasks = { nightly = { schedule = "rate(1 day)", task = "report", priority = "urgent" } }
  }

  expect_failures = [var.periodic_tasks]
}

run "a_periodic_task_goes_to_its_prioritys_queue" {
  variables {
    priorities     = [{ name = "high" }, { name = "low" }]
    periodic_tasks = { reminders = { schedule = "rate(5 minutes)", task = "remind", priority = "high" }, nightly = { schedule = "rate(1 day)", task = "report" } }
  }

  assert {
    condition = alltrue([
      aws_scheduler_schedule.periodic["reminders"].target[0].arn == aws_sqs_queue.priority["high"].arn,
      aws_scheduler_schedule.periodic["nightly"].target[0].arn == aws_sqs_queue.this[0].arn,
    ])
    error_message = "A periodic task with a priority is sent to that priority's queue, one without to the module's."
  }

  assert {
    condition     = [for statement in jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement : statement.Resource if statement.Sid == "SendTasks"] == [[aws_sqs_queue.this[0].arn, aws_sqs_queue.priority["high"].arn]]
    error_message = "The scheduler role may send to every priority queue."
  }
}

run "the_dead_letter_queue_takes_every_priority_queue" {
  variables {
    priorities       = [{ name = "high" }, { name = "normal" }, { name = "low" }]
    default_priority = "normal"
  }

  # The priority queues' ARNs are built from their names (the policy must allow them before they exist).
  assert {
    condition = jsondecode(aws_sqs_queue_redrive_allow_policy.dead_letter_queue[0].redrive_allow_policy).sourceQueueArns == [
      aws_sqs_queue.this[0].arn,
      "arn:aws:sqs:eu-west-1:111122223333:${aws_sqs_queue.priority["high"].name}",
      "arn:aws:sqs:eu-west-1:111122223333:${aws_sqs_queue.priority["low"].name}",
    ]
    error_message = "The dead-letter queue's redrive allow policy lets every priority queue use it: SQS refuses a source queue it does not list."
  }
}

run "a_producer_may_send_to_every_priority_queue" {
  variables {
    priorities = [{ name = "high" }, { name = "low" }]
  }

  assert {
    condition     = [for statement in jsondecode(output.producer_policy_json).Statement : statement.Resource if statement.Sid == "SendTasks"] == [[aws_sqs_queue.this[0].arn, aws_sqs_queue.priority["high"].arn]]
    error_message = "producer_policy_json lets a producer enqueue at every priority, and at nothing else."
  }
}

run "behind_mappings_the_reserve_counts_the_mappings_shares" {
  command = plan

  # A share is at least 2: 10 by weights 10 and 1 is 9 + 2, 11 invocations at once.
  variables {
    trigger_mode                             = "event_source_mapping"
    consumer_package                         = null
    priorities                               = [{ name = "high", weight = 10 }, { name = "low" }]
    event_source_mapping_maximum_concurrency = 10
    worker_reserved_concurrent_executions    = 11
  }

  assert {
    condition     = aws_lambda_event_source_mapping.priority["high"].scaling_config[0].maximum_concurrency + aws_lambda_event_source_mapping.worker[0].scaling_config[0].maximum_concurrency == 11
    error_message = "The shares round down, but no mapping gets fewer than Lambda's 2."
  }
}
