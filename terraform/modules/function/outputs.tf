# Whole resources, so that the calling module's outputs and its `terraform test` assertions read
# any attribute (a test may read a child module's outputs only).

output "function" {
  description = "The aws_lambda_function."
  value       = aws_lambda_function.this
}

output "log_group" {
  description = "The aws_cloudwatch_log_group."
  value       = aws_cloudwatch_log_group.this
}

output "role_arn" {
  description = "ARN of the role the function runs with, the module's or the caller's."
  value       = var.role.create ? aws_iam_role.this[0].arn : var.role.arn
}

output "role" {
  description = "The aws_iam_role (null with the caller's role)."
  value       = one(aws_iam_role.this)
}

output "role_policy" {
  description = "The aws_iam_role_policy (null with the caller's role)."
  value       = one(aws_iam_role_policy.this)
}

output "managed_policy_attachments" {
  description = "The aws_iam_role_policy_attachments, by key."
  value       = aws_iam_role_policy_attachment.managed
}
