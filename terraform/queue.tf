resource "aws_sqs_queue" "this" {
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
    deadLetterTargetArn = aws_sqs_queue.dead_letter_queue.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.fifo_queue == endswith(local.queue_name, ".fifo") && var.fifo_queue == endswith(local.dead_letter_queue_name, ".fifo")
      error_message = "A FIFO queue's name (and its dead-letter queue's) must end in .fifo, and a standard queue's must not: queue_name = \"${local.queue_name}\", dead_letter_queue_name = \"${local.dead_letter_queue_name}\", fifo_queue = ${var.fifo_queue}."
    }
    precondition {
      condition     = local.visibility_timeout_seconds >= local.required_visibility_timeout
      error_message = "visibility_timeout_seconds (${local.visibility_timeout_seconds}) must cover ${local.schedule ? "the consumer's timeout (${var.consumer_timeout}) and " : ""}the worker's timeout (${var.worker_timeout}), or a message becomes visible again while it is still being worked on."
    }
    precondition {
      condition     = var.fifo_queue || (var.content_based_deduplication == null && var.deduplication_scope == null && var.fifo_throughput_limit == null)
      error_message = "content_based_deduplication, deduplication_scope and fifo_throughput_limit apply to FIFO queues only: set fifo_queue = true or leave them unset."
    }
  }
}

# Only TLS: SQS accepts plain HTTP otherwise. Producers from other accounts, when listed, may send.
resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.this.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      length(var.producer_principals) == 0 ? [] : [{
        Sid       = "AllowProducers"
        Effect    = "Allow"
        Principal = { AWS = var.producer_principals }
        Action    = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource  = aws_sqs_queue.this.arn
      }],
    )
  })
}
