# Customer-managed KMS keys: on the queues, the log groups and the idempotency table, and the
# permissions scoped to them. A file of its own because sqs_managed_sse_enabled is computed: in a
# state shared with runs without a key, it would keep their value.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                              = "orders"
  consumer_package                  = { filename = "tests/fixtures/placeholder.zip" }
  worker_package                    = { filename = "tests/fixtures/placeholder.zip" }
  kms_master_key_id                 = "arn:aws:kms:eu-west-1:111122223333:key/0b2c7f3e-1d1e-4a5b-9c8d-7e6f5a4b3c2d"
  kms_data_key_reuse_period_seconds = 3600
  cloudwatch_logs_kms_key_id        = "arn:aws:kms:eu-west-1:111122223333:key/5d6e7f80-0000-4000-8000-000000000001"
  create_idempotency_table          = true
  idempotency_table_kms_key_arn     = "arn:aws:kms:eu-west-1:111122223333:key/5d6e7f80-0000-4000-8000-000000000002"
}

run "scheduled_with_keys" {
  assert {
    condition = alltrue([
      aws_sqs_queue.this.kms_master_key_id == var.kms_master_key_id,
      aws_sqs_queue.dead_letter_queue.kms_master_key_id == var.kms_master_key_id,
      aws_sqs_queue.this.kms_data_key_reuse_period_seconds == 3600,
      aws_sqs_queue.dead_letter_queue.kms_data_key_reuse_period_seconds == 3600,
      !aws_sqs_queue.this.sqs_managed_sse_enabled,
      !aws_sqs_queue.dead_letter_queue.sqs_managed_sse_enabled,
    ])
    error_message = "A KMS key replaces SSE-SQS on both queues."
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_log_group.consumer[0].kms_key_id == var.cloudwatch_logs_kms_key_id,
      aws_cloudwatch_log_group.worker.kms_key_id == var.cloudwatch_logs_kms_key_id,
    ])
    error_message = "The log groups use their key."
  }

  assert {
    condition     = aws_dynamodb_table.idempotency[0].server_side_encryption[0].kms_key_arn == var.idempotency_table_kms_key_arn
    error_message = "The idempotency table uses its key."
  }

  assert {
    condition = contains(jsondecode(aws_iam_role_policy.consumer[0].policy).Statement, {
      Sid      = "DecryptQueueMessages"
      Effect   = "Allow"
      Action   = "kms:Decrypt"
      Resource = var.kms_master_key_id
    })
    error_message = "The consumer may decrypt what it receives, with the queues' key only."
  }

  assert {
    condition = contains(jsondecode(aws_iam_role_policy.worker.policy).Statement, {
      Sid      = "EncryptQueueMessages"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = var.kms_master_key_id
    })
    error_message = "The worker may encrypt what it sends to the dead-letter queue, with the queues' key only."
  }

  assert {
    condition = contains(jsondecode(aws_iam_role_policy.worker.policy).Statement, {
      Sid      = "IdempotencyTableKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = var.idempotency_table_kms_key_arn
    })
    error_message = "The worker may use the table's key, and only that key."
  }

  assert {
    condition = contains(jsondecode(output.producer_policy_json).Statement, {
      Sid      = "EncryptQueueMessages"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = var.kms_master_key_id
    })
    error_message = "Producers may use the queues' key, and only that key."
  }
}
