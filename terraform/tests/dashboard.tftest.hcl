# The optional CloudWatch dashboard, built from the metrics the runtime emits.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name              = "orders"
  consumer_package  = { filename = "tests/fixtures/placeholder.zip" }
  worker_package    = { filename = "tests/fixtures/placeholder.zip" }
  metrics_namespace = "Orders"
}

run "without_dashboard" {
  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null
    error_message = "No dashboard unless asked for."
  }
}

run "dashboard" {
  variables {
    create_dashboard = true
  }

  assert {
    # Dashboards are global to the account: the region keeps two regions' dashboards apart.
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "orders-eu-west-1"
    error_message = "The dashboard is named after var.name and the queue's region."
  }

  assert {
    condition = [for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : widget.properties.title] == [
      "Queue depth",
      "Oldest message (seconds)",
      "Dead-letter queue depth",
      "Tasks succeeded, retried and dead-lettered",
      "Succeeded by task",
      "Retried by task",
      "Dead-lettered by task",
      "Task duration (ms)",
      "Queue time (ms)",
      "Consumer runs and messages",
      "Worker errors and throttles",
      "Tenants (fair queue): noisy tenants and the quiet ones' backlog",
      "Tenants (fair queue): oldest message (seconds)",
    ]
    error_message = "The dashboard shows the queue, the dead-letter queue, tasks by name, durations, consumer runs and worker errors."
  }

  assert {
    condition = alltrue([for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : alltrue([
      widget.type == "metric",
      widget.properties.region == "eu-west-1",
      widget.width == 12,
    ])])
    error_message = "Metric widgets of the queue's region, two to a row."
  }

  assert {
    condition = [for metric in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[4].properties.metrics : metric[0].expression] == [
      "SEARCH('{\"Orders\",service,task} MetricName=\"TasksSucceeded\" service=\"orders\"', 'Sum', 60)",
    ]
    error_message = "Per-task counts come from a SEARCH over the runtime's `task` dimension, in its namespace and service."
  }

  assert {
    condition = contains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.metrics, [
      "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.this[0].name, { label = "Waiting" },
    ])
    error_message = "Queue depth is the queue's own SQS metric."
  }

  assert {
    condition = contains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[9].properties.metrics, [
      "Orders", "MessagesReleased", "service", "orders", { label = "Released" },
    ])
    error_message = "Released messages are the consumer's metric, in the configured namespace and service."
  }

  assert {
    condition = alltrue([
      output.dashboard_name == aws_cloudwatch_dashboard.this[0].dashboard_name,
      output.dashboard_arn == aws_cloudwatch_dashboard.this[0].dashboard_arn,
    ])
    error_message = "The dashboard's name and ARN are outputs."
  }
}

run "event_source_mapping_dashboard" {
  variables {
    create_dashboard = true
    dashboard_name   = "orders-tasks"
    trigger_mode     = "event_source_mapping"
    consumer_package = null
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_dashboard.this[0].dashboard_name == "orders-tasks",
      !contains([for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : widget.properties.title], "Consumer runs and messages"),
    ])
    error_message = "A given name is used as it is; without a consumer there is no consumer widget."
  }
}

run "infrequent_access_logs_warn" {
  variables {
    create_dashboard                = true
    cloudwatch_logs_log_group_class = "INFREQUENT_ACCESS"
  }

  # A warning: the log class extracts no metrics, and the runtime's are embedded in its logs.
  expect_failures = [check.metrics_with_infrequent_access_logs]
}

# A FIFO queue's schedules dead-letter into a standard queue of their own: it has an alarm, and its
# depth is on the dashboard beside the dead-letter queue's.
run "fifo_schedule_dead_letters" {
  command = plan

  variables {
    create_dashboard            = true
    fifo_queue                  = true
    content_based_deduplication = true
    # A new queue than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "fifo_schedule_dead_letters"
  }

  assert {
    condition = [for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : widget.properties.metrics if widget.properties.title == "Dead-letter queue depth"] == [[
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "orders-dlq.fifo", { label = "Dead letters" }],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "orders-schedule-dlq", { label = "Schedules' dead letters" }],
    ]]
    error_message = "The schedules' dead-letter queue of a FIFO module is on the dashboard, beside the dead-letter queue."
  }
}
