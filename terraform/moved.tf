# `create` put a count on resources that had none; these keep existing states in place (no destroy
# and re-create of the queues, the worker or its log group) when upgrading from a release without it.
# (The roles are replaced once anyway, for their name prefixes: see iam.tf.)

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
