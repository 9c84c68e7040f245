# EventBridge starts the consumer (trigger_mode = "schedule" only).

resource "aws_cloudwatch_event_rule" "schedule" {
  count = local.schedule ? 1 : 0

  name                = "${var.name}-schedule"
  description         = "Starts the task queue consumer ${local.consumer_function_name}."
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  count = local.schedule ? 1 : 0

  rule      = aws_cloudwatch_event_rule.schedule[0].name
  target_id = "consumer"
  arn       = aws_lambda_function.consumer[0].arn
}

# Only this rule may invoke the consumer.
resource "aws_lambda_permission" "schedule" {
  count = local.schedule ? 1 : 0

  statement_id  = "AllowInvokeFromSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.consumer[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[0].arn
}
