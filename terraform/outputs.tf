################################################################################
# Queues
################################################################################

output "queue_url" {
  description = "URL of the queue: where producers send tasks."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.this.name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter_queue.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter_queue.arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter_queue.name
}

output "producer_policy_json" {
  description = "IAM policy (JSON) that lets a principal send tasks to the queue; attach it to your producers' roles."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "SendTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = aws_sqs_queue.this.arn
      }],
      local.queue_kms_encrypt_statements,
    )
  })
}

################################################################################
# Functions and roles
################################################################################

output "consumer_function_name" {
  description = "Name of the consumer function (null with an event source mapping)."
  value       = one(aws_lambda_function.consumer[*].function_name)
}

output "consumer_function_arn" {
  description = "ARN of the consumer function (null with an event source mapping)."
  value       = one(aws_lambda_function.consumer[*].arn)
}

output "consumer_role_name" {
  description = "Name of the consumer's IAM role (null with an event source mapping)."
  value       = one(aws_iam_role.consumer[*].name)
}

output "consumer_role_arn" {
  description = "ARN of the consumer's IAM role (null with an event source mapping)."
  value       = one(aws_iam_role.consumer[*].arn)
}

output "worker_function_name" {
  description = "Name of the worker function."
  value       = aws_lambda_function.worker.function_name
}

output "worker_function_arn" {
  description = "ARN of the worker function."
  value       = aws_lambda_function.worker.arn
}

output "worker_role_name" {
  description = "Name of the worker's IAM role: attach what your tasks need to it, or use `worker_policy_arns` and `worker_policy_statements`."
  value       = aws_iam_role.worker.name
}

output "worker_role_arn" {
  description = "ARN of the worker's IAM role."
  value       = aws_iam_role.worker.arn
}

################################################################################
# Triggers
################################################################################

output "schedule_rule_arn" {
  description = "ARN of the EventBridge rule that starts the consumer (null with an event source mapping)."
  value       = one(aws_cloudwatch_event_rule.schedule[*].arn)
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping (null in schedule mode)."
  value       = one(aws_lambda_event_source_mapping.worker[*].uuid)
}

################################################################################
# Idempotency
################################################################################

output "idempotency_table_name" {
  description = "Name of the idempotency table (null when it is not created)."
  value       = one(aws_dynamodb_table.idempotency[*].name)
}

output "idempotency_table_arn" {
  description = "ARN of the idempotency table (null when it is not created)."
  value       = one(aws_dynamodb_table.idempotency[*].arn)
}
