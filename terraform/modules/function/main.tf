# One Lambda function of the task queue with what it needs to run: its log group, its role with the
# role's inline policy and managed policy attachments (or the caller's role), and the function.
# Internal to the module (the consumer and the worker): inputs arrive checked, by the calling module's
# validations and preconditions (terraform_data.*_settings), where `terraform test` can reach them.

resource "aws_cloudwatch_log_group" "this" {
  # The name Lambda logs to by default: created here so that it has a retention and the role needs
  # no logs:CreateLogGroup. Not create_before_destroy: a group of this fixed name cannot be created
  # while the one it replaces still exists, so nothing may pass that lifecycle on to it (the policy
  # spells the group's ARN out for that reason).
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.settings.log_group.retention_in_days
  kms_key_id        = var.settings.log_group.kms_key_id
  log_group_class   = var.settings.log_group.log_group_class

  tags = var.settings.log_group.tags
}

resource "aws_iam_role" "this" {
  count = var.role.create ? 1 : 0

  name                 = var.role.name_prefix == null ? var.function_name : null
  name_prefix          = var.role.name_prefix
  path                 = var.role.path
  permissions_boundary = var.role.permissions_boundary
  assume_role_policy   = var.role.assume_role_policy

  tags = var.role.tags

  # A new name (say, a prefix) replaces the role: the new one is in place before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy" "this" {
  count = var.role.create ? 1 : 0

  name   = var.role.policy_name
  role   = aws_iam_role.this[0].id
  policy = var.role.policy_json

  # Replaced with its role (a new name): the new one is attached before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = var.role.create ? var.role.managed_policy_arns : {}

  role       = aws_iam_role.this[0].name
  policy_arn = each.value

  # Replaced with its role (a new name): the new one is attached before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:The worker is invoked synchronously only (by the consumer or the event source mapping), so a Lambda DLQ never applies and failed tasks go to the queue's dead-letter queue; the consumer is invoked asynchronously by its rule only, a failed run is not retried (event invoke config) and its messages stay in SQS for the next run
  #checkov:skip=CKV_AWS_272:Packages are built from source by build.py in the caller's pipeline, unsigned, and a signing profile is the platform's own choice
  #checkov:skip=CKV_AWS_173:The environment holds queue URLs, task module names and settings, no secrets, and Lambda encrypts it at rest with its AWS-managed key
  function_name = var.function_name
  description   = var.description
  role          = var.role.create ? aws_iam_role.this[0].arn : var.role.arn

  filename          = var.package.filename
  s3_bucket         = var.package.s3_bucket
  s3_key            = var.package.s3_key
  s3_object_version = var.package.s3_object_version
  source_code_hash  = var.package.source_code_hash
  handler           = var.handler
  runtime           = var.settings.runtime
  architectures     = var.settings.architectures
  publish           = var.settings.publish

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = var.environment
  }

  logging_config {
    log_format            = var.settings.logging.log_format
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.settings.logging.application_log_level
    system_log_level      = var.settings.logging.system_log_level
  }

  tracing_config {
    mode = var.settings.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = var.settings.vpc == null ? [] : [var.settings.vpc]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.settings.tags

  # The first invocation must find its log group and its permissions in place.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    aws_iam_role_policy_attachment.managed,
  ]
}
