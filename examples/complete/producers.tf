# Two producers of this account that are AWS services: an SNS topic of order events and a nightly
# EventBridge rule. Each sends the task body the worker expects; the module's queue policy admits
# each for its own ARN (queue_policy_statements in main.tf).

resource "aws_sns_topic" "order_events" {
  name              = "${local.name}-order-events"
  kms_master_key_id = aws_kms_key.queues.arn
}

resource "aws_sns_topic_subscription" "order_events" {
  topic_arn = aws_sns_topic.order_events.arn
  protocol  = "sqs"
  endpoint  = module.task_queue.queue_arn
  # The message itself, a task body such as {"task": "hello", "payload": {...}}, without SNS's envelope.
  raw_message_delivery = true
}

resource "aws_cloudwatch_event_rule" "nightly_report" {
  name                = "${local.name}-nightly-report"
  description         = "Enqueues the nightly report task."
  schedule_expression = "cron(0 2 * * ? *)"
}

resource "aws_cloudwatch_event_target" "nightly_report" {
  rule      = aws_cloudwatch_event_rule.nightly_report.name
  target_id = "task-queue"
  arn       = module.task_queue.queue_arn
  input     = jsonencode({ task = "hello", payload = { name = "nightly report" } })
}
