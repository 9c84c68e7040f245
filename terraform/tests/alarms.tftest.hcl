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
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0].namespace == "AWS/SQS",
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0].metric_name == "ApproximateNumberOfMessagesVisible",
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0].dimensions == tomap({ QueueName = aws_sqs_queue.dead_letter_queue.name }),
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0].threshold == 0,
    ])
    error_message = "One message in the dead-letter queue is one too many."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.oldest_message_age[0].metric_name == "ApproximateAgeOfOldestMessage",
      aws_cloudwatch_metric_alarm.oldest_message_age[0].dimensions == tomap({ QueueName = aws_sqs_queue.this.name }),
      aws_cloudwatch_metric_alarm.oldest_message_age[0].threshold == 1800,
    ])
    error_message = "The age alarm watches the queue's oldest message."
  }

  assert {
    condition = alltrue([for alarm in [aws_cloudwatch_metric_alarm.worker_errors[0], aws_cloudwatch_metric_alarm.worker_throttles[0]] : alltrue([
      alarm.namespace == "AWS/Lambda",
      alarm.dimensions == tomap({ FunctionName = aws_lambda_function.worker.function_name }),
      alarm.statistic == "Sum",
      alarm.threshold == 0,
    ])])
    error_message = "The worker alarms watch the worker."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.worker_errors[0].metric_name == "Errors",
      aws_cloudwatch_metric_alarm.worker_throttles[0].metric_name == "Throttles",
    ])
    error_message = "Errors and throttles."
  }

  assert {
    condition = alltrue([for alarm in [
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty[0],
      aws_cloudwatch_metric_alarm.oldest_message_age[0],
      aws_cloudwatch_metric_alarm.worker_errors[0],
      aws_cloudwatch_metric_alarm.worker_throttles[0],
      ] : alarm.alarm_actions == toset(var.alarm_actions) && alarm.ok_actions == toset(var.ok_actions)
    ])
    error_message = "Every alarm notifies alarm_actions and ok_actions."
  }
}

run "without_alarms" {
  variables {
    create_alarms = false
  }

  assert {
    condition = alltrue([
      length(aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty) == 0,
      length(aws_cloudwatch_metric_alarm.oldest_message_age) == 0,
      length(aws_cloudwatch_metric_alarm.worker_errors) == 0,
      length(aws_cloudwatch_metric_alarm.worker_throttles) == 0,
    ])
    error_message = "create_alarms = false creates none."
  }
}
