# Messages that failed max_receive_count times, and tasks the worker gave up on, with the reason.
resource "aws_sqs_queue" "dead_letter_queue" {
  count = local.create ? 1 : 0

  name = local.dead_letter_queue_name

  # SQS requires the dead-letter queue of a FIFO queue to be FIFO too. The worker sends dead letters
  # with an explicit deduplication ID, so content-based deduplication is not needed here.
  fifo_queue = var.fifo_queue

  message_retention_seconds = var.dead_letter_queue_message_retention_seconds
  max_message_size          = var.max_message_size

  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  tags = local.dead_letter_queue_tags
}

# Only the module's queues (its own and the priorities') may use the dead-letter queue as their own.
# SQS refuses a queue's redrive policy naming a dead-letter queue that does not list it, so the priority
# queues wait for this policy (priorities.tf), which names them by ARN before they exist.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letter_queue" {
  count = local.create && var.create_dead_letter_queue_redrive_allow_policy ? 1 : 0

  queue_url = aws_sqs_queue.dead_letter_queue[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = concat([aws_sqs_queue.this[0].arn], values(local.priority_queue_arns))
  })

  lifecycle {
    precondition {
      condition     = length(local.priority_queue_arns) + 1 <= 10
      error_message = "The dead-letter queue's redrive-allow policy lists at most 10 source queues, and priorities (${length(var.priorities)}) makes ${length(local.priority_queue_arns) + 1}. Use at most 10 priorities, or set create_dead_letter_queue_redrive_allow_policy = false."
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter_queue" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.dead_letter_queue[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.dead_letter_queue[0].arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
