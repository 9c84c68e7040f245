# The CloudWatch alarms.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                      = "orders"
  consumer_package          = { filename = "tests/fixtures/placeholder.zip" }
  worker_package            = { filename = "tests/fixtures/placeholder.zip" }
  alarm_actions             = ["arn:aws:sns:eu-west-1:111122223333:alerts"]
  ok_actions                = ["arn:aws:sns:eu-west-1:111122223333:recovered"]
  insufficient_data_actions = ["arn:aws:sns:eu-west-1:111122223333:quiet"]
}

run "alarms" {
  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["consumer_errors", "dead_letter_queue_not_empty", "oldest_message_age", "worker_cannot_start", "worker_errors", "worker_throttles"]
    error_message = "Six alarms in schedule mode."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].namespace == var.metrics_namespace,
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].metric_name == "WorkerStartFailed",
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].dimensions == tomap({ service = var.name }),
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].statistic == "Sum",
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.this["worker_cannot_start"].threshold == 0,
    ])
    error_message = "A worker that cannot start (its tasks fail to import, a bad configuration) raises an alarm: the worker's WorkerStartFailed metric."
  }

  assert {
    condition     = alltrue([for key, alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name == "orders-${replace(key, "_", "-")}"])
    error_message = "Alarms are named after var.name."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].namespace == "AWS/SQS",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].metric_name == "ApproximateNumberOfMessagesVisible",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].dimensions == tomap({ QueueName = aws_sqs_queue.dead_letter_queue[0].name }),
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].threshold == 0,
    ])
    error_message = "One message in the dead-letter queue is one too many."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].metric_name == "ApproximateAgeOfOldestMessage",
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].dimensions == tomap({ QueueName = aws_sqs_queue.this[0].name }),
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].threshold == 1800,
    ])
    error_message = "The age alarm watches the queue's oldest message."
  }

  assert {
    condition = alltrue([for key in ["worker_errors", "worker_throttles"] : alltrue([
      aws_cloudwatch_metric_alarm.this[key].namespace == "AWS/Lambda",
      aws_cloudwatch_metric_alarm.this[key].dimensions == tomap({ FunctionName = module.worker[0].function.function_name }),
      aws_cloudwatch_metric_alarm.this[key].statistic == "Sum",
      aws_cloudwatch_metric_alarm.this[key].threshold == 0,
    ])])
    error_message = "The worker alarms watch the worker."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["consumer_errors"].namespace == "AWS/Lambda",
      aws_cloudwatch_metric_alarm.this["consumer_errors"].metric_name == "Errors",
      aws_cloudwatch_metric_alarm.this["consumer_errors"].dimensions == tomap({ FunctionName = module.consumer[0].function.function_name }),
      aws_cloudwatch_metric_alarm.this["consumer_errors"].threshold == 0,
    ])
    error_message = "A failing consumer (misconfigured, missing a permission) raises an alarm too."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["worker_errors"].metric_name == "Errors",
      aws_cloudwatch_metric_alarm.this["worker_throttles"].metric_name == "Throttles",
    ])
    error_message = "Errors and throttles."
  }

  assert {
    condition = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alltrue([
      alarm.alarm_actions == toset(var.alarm_actions),
      alarm.ok_actions == toset(var.ok_actions),
      alarm.insufficient_data_actions == toset(var.insufficient_data_actions),
      alarm.evaluation_periods == 1,
      alarm.datapoints_to_alarm == null,
      alarm.period == 60,
      alarm.treat_missing_data == "notBreaching",
    ])])
    error_message = "Every alarm notifies its three kinds of actions and evaluates one one-minute period."
  }

  assert {
    condition     = output.alarm_arns == { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
    error_message = "The alarms' ARNs are an output, by alarm."
  }
}

run "thresholds" {
  variables {
    alarm_dead_letter_queue_messages_threshold = 10
    alarm_oldest_message_age_seconds           = 3600
    alarm_worker_errors_threshold              = 3
    alarm_worker_throttles_threshold           = 4
    alarm_consumer_errors_threshold            = 5
    alarm_evaluation_periods                   = 5
    alarm_datapoints_to_alarm                  = 3
    alarm_period_seconds                       = 300
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.this["dead_letter_queue_not_empty"].threshold == 10,
      aws_cloudwatch_metric_alarm.this["oldest_message_age"].threshold == 3600,
      aws_cloudwatch_metric_alarm.this["worker_errors"].threshold == 3,
      aws_cloudwatch_metric_alarm.this["worker_throttles"].threshold == 4,
      aws_cloudwatch_metric_alarm.this["consumer_errors"].threshold == 5,
    ])
    error_message = "Each alarm takes its own threshold."
  }

  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.evaluation_periods == 5 && alarm.datapoints_to_alarm == 3 && alarm.period == 300])
    error_message = "Evaluation periods, datapoints and period apply to every alarm."
  }
}

run "event_source_mapping_alarms" {
  variables {
    trigger_mode     = "event_source_mapping"
    consumer_package = null
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["dead_letter_queue_not_empty", "oldest_message_age", "worker_cannot_start", "worker_errors", "worker_throttles"]
    error_message = "No consumer, no consumer alarm; the worker's start is watched in both modes."
  }
}

run "without_alarms" {
  variables {
    create_alarms = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && output.alarm_arns == {}
    error_message = "create_alarms = false creates none."
  }
}
