# Customer-managed KMS keys: on the queues, the log groups and the table, and permissions scoped to
# them: each key statement holds only through the service that uses the key (kms:ViaService) and for
# the resource it names (the encryption context).

mock_provider "aws" {
  source = "./tests/mocks"

  # sqs_managed_sse_enabled is computed: the sentinel `true` shows through only if the module leaves
  # it unset, as SQS requires next to a KMS key (the mock's own false would pass a wrong `false` too).
  override_resource {
    target = aws_sqs_queue.this
    values = {
      arn                     = "arn:aws:sqs:eu-west-1:111122223333:mock-queue"
      url                     = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-queue"
      sqs_managed_sse_enabled = true
    }
  }

  override_resource {
    target = aws_sqs_queue.dead_letter_queue
    values = {
      arn                     = "arn:aws:sqs:eu-west-1:111122223333:mock-dlq"
      url                     = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-dlq"
      sqs_managed_sse_enabled = true
    }
  }
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
      aws_sqs_queue.this[0].kms_master_key_id == var.kms_master_key_id,
      aws_sqs_queue.dead_letter_queue[0].kms_master_key_id == var.kms_master_key_id,
      aws_sqs_queue.this[0].kms_data_key_reuse_period_seconds == 3600,
      aws_sqs_queue.dead_letter_queue[0].kms_data_key_reuse_period_seconds == 3600,
      # The sentinel: the module set no sqs_managed_sse_enabled next to the key.
      aws_sqs_queue.this[0].sqs_managed_sse_enabled,
      aws_sqs_queue.dead_letter_queue[0].sqs_managed_sse_enabled,
    ])
    error_message = "A KMS key replaces SSE-SQS on both queues."
  }

  assert {
    condition = alltrue([
      module.consumer[0].log_group.kms_key_id == var.cloudwatch_logs_kms_key_id,
      module.worker[0].log_group.kms_key_id == var.cloudwatch_logs_kms_key_id,
    ])
    error_message = "The log groups use their key."
  }

  assert {
    condition     = aws_dynamodb_table.idempotency[0].server_side_encryption[0].kms_key_arn == var.idempotency_table_kms_key_arn
    error_message = "The table uses its key."
  }

  assert {
    condition = contains(jsondecode(module.consumer[0].role_policy.policy).Statement, {
      Sid      = "DecryptQueueMessages"
      Effect   = "Allow"
      Action   = "kms:Decrypt"
      Resource = var.kms_master_key_id
      Condition = { StringEquals = {
        "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:sqs:arn" = [aws_sqs_queue.this[0].arn]
      } }
    })
    error_message = "The consumer may decrypt what it receives from its queue, through SQS, with the queues' key only."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "EncryptDeadLetters"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = var.kms_master_key_id
      Condition = { StringEquals = {
        "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:sqs:arn" = [aws_sqs_queue.dead_letter_queue[0].arn]
      } }
    })
    error_message = "The worker may encrypt what it sends to the dead-letter queue, through SQS, and nothing for the queue itself."
  }

  assert {
    condition     = !contains([for statement in jsondecode(module.worker[0].role_policy.policy).Statement : statement.Sid], "DecryptQueueMessages")
    error_message = "In schedule mode the worker receives nothing, so it decrypts nothing from the queue."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "IdempotencyTableKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = var.idempotency_table_kms_key_arn
      Condition = { StringEquals = {
        "kms:ViaService"                               = "dynamodb.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:dynamodb:tableName" = ["orders-idempotency"]
      } }
    })
    error_message = "The worker may use the table's key, through DynamoDB, for that table only."
  }

  assert {
    condition = contains(jsondecode(output.producer_policy_json).Statement, {
      Sid      = "EncryptQueueMessages"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = var.kms_master_key_id
      Condition = { StringEquals = {
        "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:sqs:arn" = [aws_sqs_queue.this[0].arn]
      } }
    })
    error_message = "Producers may use the queues' key, through SQS, for the queue only."
  }
}

run "event_source_mapping_with_key" {
  variables {
    trigger_mode     = "event_source_mapping"
    consumer_package = null
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "DecryptQueueMessages"
      Effect   = "Allow"
      Action   = "kms:Decrypt"
      Resource = var.kms_master_key_id
      Condition = { StringEquals = {
        "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:sqs:arn" = [aws_sqs_queue.this[0].arn]
      } }
    })
    error_message = "The event source mapping polls with the worker's role, which then decrypts from the queue."
  }
}
