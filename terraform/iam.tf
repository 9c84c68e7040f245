# One role per function, each scoped to the ARNs it works on. The policies are jsonencode()d rather
# than aws_iam_policy_document data sources so that `terraform test` can assert on their contents.

locals {
  lambda_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  # What polls the queue (the consumer, or the worker under an event source mapping) receives,
  # deletes, delays retries through the visibility, and reads the queue's attributes.
  consume_queue_statement = {
    Sid    = "ConsumeQueue"
    Effect = "Allow"
    Action = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    Resource = aws_sqs_queue.this.arn
  }

  # Receiving from, and sending to, a queue encrypted with a KMS key.
  queue_kms_decrypt_statements = [for key in local.queue_kms_key_arns : {
    Sid      = "DecryptQueueMessages"
    Effect   = "Allow"
    Action   = "kms:Decrypt"
    Resource = key
  }]
  queue_kms_encrypt_statements = [for key in local.queue_kms_key_arns : {
    Sid      = "EncryptQueueMessages"
    Effect   = "Allow"
    Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
    Resource = key
  }]

  # X-Ray takes no resource-level permissions, so its policy is AWS's managed one; so is the ENI
  # management a function in a VPC needs.
  managed_policy_arns = merge(
    var.tracing_mode == "Active" ? { tracing = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess" } : {},
    local.vpc_enabled ? { vpc = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess" } : {},
  )
}

################################################################################
# Consumer
################################################################################

resource "aws_iam_role" "consumer" {
  count = local.schedule ? 1 : 0

  name                 = local.consumer_function_name
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy   = local.lambda_assume_role_policy

  tags = var.tags
}

resource "aws_iam_role_policy" "consumer" {
  count = local.schedule ? 1 : 0

  name = "taskqueue-consumer"
  role = aws_iam_role.consumer[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.consumer[0].arn}:*"
        },
        local.consume_queue_statement,
        {
          Sid      = "InvokeWorker"
          Effect   = "Allow"
          Action   = "lambda:InvokeFunction"
          Resource = aws_lambda_function.worker.arn
        },
      ],
      local.queue_kms_decrypt_statements,
    )
  })
}

resource "aws_iam_role_policy_attachment" "consumer_managed" {
  for_each = local.schedule ? local.managed_policy_arns : {}

  role       = aws_iam_role.consumer[0].name
  policy_arn = each.value
}

################################################################################
# Worker
################################################################################

resource "aws_iam_role" "worker" {
  name                 = local.worker_function_name
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy   = local.lambda_assume_role_policy

  tags = var.tags
}

resource "aws_iam_role_policy" "worker" {
  name = "taskqueue-worker"
  role = aws_iam_role.worker.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.worker.arn}:*"
        },
        {
          Sid      = "SendDeadLetters"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = aws_sqs_queue.dead_letter_queue.arn
        },
      ],
      # The event source mapping polls with the worker's role; the worker itself then sets the
      # backoff of the records that failed.
      local.event_source_mapping ? [local.consume_queue_statement] : [],
      local.queue_kms_encrypt_statements,
      var.create_idempotency_table ? [{
        Sid      = "IdempotencyRecords"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource = one(aws_dynamodb_table.idempotency[*].arn)
      }] : [],
      var.create_idempotency_table && var.idempotency_table_kms_key_arn != null ? [{
        Sid      = "IdempotencyTableKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = var.idempotency_table_kms_key_arn
      }] : [],
    )
  })
}

resource "aws_iam_role_policy_attachment" "worker_managed" {
  for_each = local.managed_policy_arns

  role       = aws_iam_role.worker.name
  policy_arn = each.value
}

# What the user's tasks touch: their own statements and policies.
resource "aws_iam_role_policy" "worker_tasks" {
  count = length(var.worker_policy_statements) > 0 ? 1 : 0

  name = "tasks"
  role = aws_iam_role.worker.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [for sid, statement in var.worker_policy_statements : merge(
      {
        Sid      = sid
        Effect   = statement.effect
        Action   = statement.actions
        Resource = statement.resources
      },
      length(statement.conditions) == 0 ? {} : {
        Condition = {
          for test in distinct([for condition in statement.conditions : condition.test]) : test => {
            for condition in statement.conditions : condition.variable => condition.values if condition.test == test
          }
        }
      },
    )]
  })
}

resource "aws_iam_role_policy_attachment" "worker_tasks" {
  for_each = var.worker_policy_arns

  role       = aws_iam_role.worker.name
  policy_arn = each.value
}
