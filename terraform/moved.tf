# Resource addresses that changed, so that existing states move instead of being destroyed and
# created again. Chains are followed: an address of the first states moves to its newest one.

# `create` put a count on resources that had none (before 1.0.0). (The roles were replaced once anyway,
# for their name prefixes: see iam.tf.)

moved {
  from = aws_sqs_queue.this
  to   = aws_sqs_queue.this[0]
}

moved {
  from = aws_sqs_queue_policy.this
  to   = aws_sqs_queue_policy.this[0]
}

moved {
  from = aws_sqs_queue.dead_letter_queue
  to   = aws_sqs_queue.dead_letter_queue[0]
}

moved {
  from = aws_sqs_queue_policy.dead_letter_queue
  to   = aws_sqs_queue_policy.dead_letter_queue[0]
}

moved {
  from = aws_cloudwatch_log_group.worker
  to   = aws_cloudwatch_log_group.worker[0]
}

moved {
  from = aws_lambda_function.worker
  to   = aws_lambda_function.worker[0]
}

moved {
  from = aws_iam_role.worker
  to   = aws_iam_role.worker[0]
}

moved {
  from = aws_iam_role_policy.worker
  to   = aws_iam_role_policy.worker[0]
}

# After 1.0.0: each function with its log group and role in modules/function (module.consumer[0],
# module.worker[0]).

moved {
  from = aws_cloudwatch_log_group.consumer[0]
  to   = module.consumer[0].aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.consumer[0]
  to   = module.consumer[0].aws_lambda_function.this
}

moved {
  from = aws_iam_role.consumer[0]
  to   = module.consumer[0].aws_iam_role.this[0]
}

moved {
  from = aws_iam_role_policy.consumer[0]
  to   = module.consumer[0].aws_iam_role_policy.this[0]
}

moved {
  from = aws_iam_role_policy_attachment.consumer_managed
  to   = module.consumer[0].aws_iam_role_policy_attachment.managed
}

moved {
  from = aws_cloudwatch_log_group.worker[0]
  to   = module.worker[0].aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.worker[0]
  to   = module.worker[0].aws_lambda_function.this
}

moved {
  from = aws_iam_role.worker[0]
  to   = module.worker[0].aws_iam_role.this[0]
}

moved {
  from = aws_iam_role_policy.worker[0]
  to   = module.worker[0].aws_iam_role_policy.this[0]
}

moved {
  from = aws_iam_role_policy_attachment.worker_managed
  to   = module.worker[0].aws_iam_role_policy_attachment.managed
}

# After 1.0.0: the EventBridge rule that starts the consumer is named after what it is (its AWS name
# stays "<name>-schedule"); "schedule" is EventBridge Scheduler's (scheduler.tf).

moved {
  from = aws_cloudwatch_event_rule.schedule
  to   = aws_cloudwatch_event_rule.consumer_trigger
}

moved {
  from = aws_cloudwatch_event_target.schedule
  to   = aws_cloudwatch_event_target.consumer_trigger
}

moved {
  from = aws_lambda_permission.schedule
  to   = aws_lambda_permission.consumer_trigger
}
