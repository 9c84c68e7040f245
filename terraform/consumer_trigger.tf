# What starts the consumer (trigger_mode = "schedule"): an EventBridge rule on schedule_expression.
# Not EventBridge Scheduler, which scheduler.tf sets up for tasks. The rule's name, its inputs
# (schedule_expression, schedule_enabled) and the schedule_rule_arn output keep their released names.

resource "aws_cloudwatch_event_rule" "consumer_trigger" {
  count = local.consumer ? 1 : 0

  name                = "${var.name}-schedule"
  description         = "Starts the task queue consumer ${local.consumer_function_name}."
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "consumer_trigger" {
  count = local.consumer ? 1 : 0

  rule      = aws_cloudwatch_event_rule.consumer_trigger[0].name
  target_id = "consumer"
  arn       = module.consumer[0].function.arn

  # The consumer invokes the worker by its spelled-out ARN (iam.tf): no run starts before it exists.
  depends_on = [module.worker]
}

# Only this rule may invoke the consumer.
resource "aws_lambda_permission" "consumer_trigger" {
  count = local.consumer ? 1 : 0

  statement_id  = "AllowInvokeFromSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.consumer[0].function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.consumer_trigger[0].arn
}
