resource "aws_sqs_queue" "this" {
  count = local.create ? 1 : 0

  name = local.queue_name

  fifo_queue                  = var.fifo_queue
  content_based_deduplication = var.fifo_queue ? var.content_based_deduplication : null
  deduplication_scope         = var.fifo_queue ? var.deduplication_scope : null
  fifo_throughput_limit       = var.fifo_queue ? var.fifo_throughput_limit : null

  visibility_timeout_seconds = local.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  delay_seconds              = var.delay_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  max_message_size           = var.max_message_size

  # SQS rejects sqs_managed_sse_enabled together with a KMS key.
  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter_queue[0].arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = local.queue_tags

  lifecycle {
    precondition {
      condition     = var.fifo_queue == endswith(local.queue_name, ".fifo") && var.fifo_queue == endswith(local.dead_letter_queue_name, ".fifo")
      error_message = "A FIFO queue's name (and its dead-letter queue's) must end in .fifo, and a standard queue's must not: queue_name = \"${local.queue_name}\", dead_letter_queue_name = \"${local.dead_letter_queue_name}\", fifo_queue = ${var.fifo_queue}."
    }
    precondition {
      condition     = local.visibility_timeout_seconds >= local.required_visibility_timeout
      error_message = "visibility_timeout_seconds (${local.visibility_timeout_seconds}) must be at least ${local.trigger.visibility_timeout_minimum}, and a message that became visible sooner would run twice at once. Raise visibility_timeout_seconds or leave it unset."
    }
    precondition {
      condition     = var.fifo_queue || (var.content_based_deduplication == null && var.deduplication_scope == null && var.fifo_throughput_limit == null)
      error_message = "content_based_deduplication, deduplication_scope and fifo_throughput_limit apply to FIFO queues only: set fifo_queue = true or leave them unset."
    }
    precondition {
      # SQS's high-throughput FIFO mode: a per-group quota needs per-group deduplication.
      condition     = var.fifo_throughput_limit != "perMessageGroupId" || var.deduplication_scope == "messageGroup"
      error_message = "fifo_throughput_limit = \"perMessageGroupId\" (high-throughput FIFO) needs deduplication_scope = \"messageGroup\", not ${var.deduplication_scope == null ? "unset" : "\"${var.deduplication_scope}\""}."
    }
  }
}

locals {
  # Caller statements (queue_policy_statements here, worker_policy_statements in iam.tf) take IAM
  # conditions as a list of {test, variable, values}; a policy groups them by test.
  caller_statement_conditions = {
    for key, statement in merge(
      { for sid, statement in var.queue_policy_statements : "queue/${sid}" => statement.conditions },
      { for sid, statement in var.worker_policy_statements : "worker/${sid}" => statement.conditions },
      ) : key => length(statement) == 0 ? {} : {
      Condition = {
        for test in distinct([for condition in statement : condition.test]) : test => {
          for condition in statement : condition.variable => condition.values if condition.test == test
        }
      }
    }
  }

  queue_policy_statements = concat(
    [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = local.queue_arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }],
    # Cross-account producers send; sqs:GetQueueAttributes would also show them this policy.
    length(var.producer_principals) == 0 ? [] : [{
      Sid       = "AllowProducers"
      Effect    = "Allow"
      Principal = { AWS = var.producer_principals }
      Action    = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      Resource  = local.queue_arn
    }],
    [for sid, statement in var.queue_policy_statements : merge(
      {
        Sid    = sid
        Effect = statement.effect
        Principal = {
          for type in distinct([for principal in statement.principals : principal.type]) :
          type => flatten([for principal in statement.principals : principal.identifiers if principal.type == type])
        }
        Action   = statement.actions
        Resource = local.queue_arn
      },
      local.caller_statement_conditions["queue/${sid}"],
    )],
  )
}

# One policy for the queue: the module's statements and the caller's, so that no second policy
# resource fights over it.
resource "aws_sqs_queue_policy" "this" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.this[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.queue_policy_statements
  })
}
