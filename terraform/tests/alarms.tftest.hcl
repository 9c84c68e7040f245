# The CloudWatch alarms.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
  alarm_actions    = ["arn:aws:sns:eu-west-1:111122223333:alerts"]
  ok_actions       = ["arn:aws:sns:eu-west-1:111122223333:alerts"]
}

run "alarms" {
  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].alarm_name == "orders-dead-letter-queue-not-empty",
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].alarm_name == "orders-oldest-message-age",
      aws_cloudwatch_metric_alarm.this["worker_errors"].alarm_name == "orders-worker-errors",
      aws_cloudwatch_metric_alarm.this["worker_throttles"].alarm_name == "orders-worker-throttles",
    ])
    error_message = "Four alarms, named after var.name."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].namespace == "AWS/SQS",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].metric_name == "ApproximateNumberOfMessagesVisible",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].dimensions == tomap({ QueueName = aws_sqs_queue.dead_letter_queue.name }),
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].threshold == 0,
    ])
    error_message = "One message in the dead-letter queue is one too many."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].metric_name == "ApproximateAgeOfOldestMessage",
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].dimensions == tomap({ QueueName = aws_sqs_queue.this.name }),
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].threshold == 1800,
    ])
    error_message = "The age alarm watches the queue's oldest message."
  }

  assert {
    condition = alltrue([for alarm in [aws_cloudwatch_metric_alarm.this["worker_errors"], aws_cloudwatch_metric_alarm.this["worker_throttles"]] : alltrue([
      alarm.namespace == "AWS/Lambda",
      alarm.dimensions == tomap({ FunctionName = aws_lambda_function.worker.function_name }),
      alarm.statistic == "Sum",
      alarm.threshold == 0,
    ])])
    error_message = "The worker alarms watch the worker."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["worker_errors"].metric_name == "Errors",
      aws_cloudwatch_metric_alarm.this["worker_throttles"].metric_name == "Throttles",
    ])
    error_message = "Errors and throttles."
  }

  assert {
    condition = alltrue([for alarm in aws_cloudwatch_metric_alarm.this :
      alarm.alarm_actions == toset(var.alarm_actions) && alarm.ok_actions == toset(var.ok_actions)
    ])
    error_message = "Every alarm notifies alarm_actions and ok_actions."
  }
}

run "without_alarms" {
  variables {
    create_alarms = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0
    error_message = "create_alarms = false creates none."
  }
}
