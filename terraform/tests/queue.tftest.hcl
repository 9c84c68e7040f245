# The queue, its dead-letter queue and their policies.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                   = "orders"
  consumer_package       = { filename = "tests/fixtures/placeholder.zip" }
  worker_package         = { filename = "tests/fixtures/placeholder.zip" }
  tags                   = { Team = "orders" }
  queue_tags             = { Component = "queue" }
  dead_letter_queue_tags = { Component = "dlq" }
}

run "standard_queue" {
  variables {
    # The producer policy's scheduling statements are scheduler.tftest.hcl's.
    create_scheduling = false
  }

  assert {
    condition     = aws_sqs_queue.this[0].name == "orders" && aws_sqs_queue.dead_letter_queue[0].name == "orders-dlq"
    error_message = "The queues are named after var.name."
  }

  assert {
    condition     = aws_sqs_queue.this[0].tags == tomap({ Team = "orders", Component = "queue" }) && aws_sqs_queue.dead_letter_queue[0].tags == tomap({ Team = "orders", Component = "dlq" })
    error_message = "queue_tags and dead_letter_queue_tags add to tags."
  }

  assert {
    condition     = !aws_sqs_queue.this[0].fifo_queue && !aws_sqs_queue.dead_letter_queue[0].fifo_queue
    error_message = "A standard queue has a standard dead-letter queue."
  }

  assert {
    condition = jsondecode(aws_sqs_queue.this[0].redrive_policy) == {
      deadLetterTargetArn = aws_sqs_queue.dead_letter_queue[0].arn
      maxReceiveCount     = 5
    }
    error_message = "The queue redrives to the dead-letter queue after max_receive_count receives."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_redrive_allow_policy.dead_letter_queue[0].redrive_allow_policy) == {
      redrivePermission = "byQueue"
      sourceQueueArns   = [aws_sqs_queue.this[0].arn]
    }
    error_message = "Only the queue may use the dead-letter queue."
  }

  assert {
    condition     = aws_sqs_queue_redrive_allow_policy.dead_letter_queue[0].queue_url == aws_sqs_queue.dead_letter_queue[0].url
    error_message = "The redrive-allow policy belongs to the dead-letter queue."
  }

  assert {
    # Computed: the mock makes up false where the module passes nothing, so true is the module's.
    condition     = aws_sqs_queue.this[0].sqs_managed_sse_enabled && aws_sqs_queue.dead_letter_queue[0].sqs_managed_sse_enabled
    error_message = "Both queues use SSE-SQS without a KMS key."
  }

  assert {
    condition     = aws_sqs_queue.this[0].kms_master_key_id == null && aws_sqs_queue.dead_letter_queue[0].kms_master_key_id == null
    error_message = "No KMS key unless one is given."
  }

  assert {
    # The larger of the default consumer (60 s) and worker (30 s) timeouts.
    condition     = aws_sqs_queue.this[0].visibility_timeout_seconds == 60
    error_message = "The visibility timeout defaults to the consumer's timeout."
  }

  assert {
    # Not computed: the plan holds what the module passes (tests/mocks). Null leaves AWS's default.
    condition = alltrue([
      aws_sqs_queue.this[0].message_retention_seconds == null,
      aws_sqs_queue.this[0].delay_seconds == null,
      aws_sqs_queue.this[0].receive_wait_time_seconds == null,
      aws_sqs_queue.this[0].max_message_size == null,
      aws_sqs_queue.dead_letter_queue[0].max_message_size == null,
    ])
    error_message = "Unset queue settings are left to AWS's defaults: the module passes none."
  }

  assert {
    condition     = aws_sqs_queue.dead_letter_queue[0].message_retention_seconds == 1209600
    error_message = "The dead-letter queue keeps messages for 14 days."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.this[0].policy).Statement == [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.this[0].arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
    error_message = "The queue policy denies non-TLS access and allows nothing else by default."
  }

  assert {
    condition     = aws_sqs_queue_policy.this[0].queue_url == aws_sqs_queue.this[0].url && aws_sqs_queue_policy.dead_letter_queue[0].queue_url == aws_sqs_queue.dead_letter_queue[0].url
    error_message = "Each queue has its own policy."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.dead_letter_queue[0].policy).Statement[0] == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.dead_letter_queue[0].arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The dead-letter queue policy denies non-TLS access."
  }

  assert {
    condition = jsondecode(output.producer_policy_json).Statement == [{
      Sid      = "SendTasks"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
      Resource = aws_sqs_queue.this[0].arn
    }]
    error_message = "The producer policy sends to this queue only."
  }

  assert {
    condition = alltrue([
      output.queue_url == aws_sqs_queue.this[0].url,
      output.queue_arn == aws_sqs_queue.this[0].arn,
      output.queue_name == "orders",
      output.dead_letter_queue_url == aws_sqs_queue.dead_letter_queue[0].url,
      output.dead_letter_queue_arn == aws_sqs_queue.dead_letter_queue[0].arn,
      output.dead_letter_queue_name == "orders-dlq",
    ])
    error_message = "The queue outputs describe the two queues."
  }
}

run "queue_settings" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted                      = "queue_settings"
    visibility_timeout_seconds                  = 300
    message_retention_seconds                   = 86400
    delay_seconds                               = 900
    receive_wait_time_seconds                   = 20
    max_message_size                            = 262144
    max_receive_count                           = 3
    dead_letter_queue_message_retention_seconds = 604800
    queue_name                                  = "orders-tasks"
    dead_letter_queue_name                      = "orders-tasks-failed"
  }

  assert {
    condition = alltrue([
      aws_sqs_queue.this[0].visibility_timeout_seconds == 300,
      aws_sqs_queue.this[0].message_retention_seconds == 86400,
      aws_sqs_queue.this[0].delay_seconds == 900,
      aws_sqs_queue.this[0].receive_wait_time_seconds == 20,
      aws_sqs_queue.this[0].max_message_size == 262144,
      aws_sqs_queue.dead_letter_queue[0].max_message_size == 262144,
      aws_sqs_queue.dead_letter_queue[0].message_retention_seconds == 604800,
    ])
    error_message = "Queue settings are passed through."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this[0].redrive_policy).maxReceiveCount == 3
    error_message = "max_receive_count sets the redrive policy."
  }

  assert {
    condition     = aws_sqs_queue.this[0].name == "orders-tasks" && aws_sqs_queue.dead_letter_queue[0].name == "orders-tasks-failed"
    error_message = "Queue names can be set."
  }
}

run "fifo_queue" {
  variables {
    fifo_queue                  = true
    content_based_deduplication = true
    deduplication_scope         = "messageGroup"
    fifo_throughput_limit       = "perMessageGroupId"
  }

  assert {
    condition     = aws_sqs_queue.this[0].name == "orders.fifo" && aws_sqs_queue.dead_letter_queue[0].name == "orders-dlq.fifo"
    error_message = "FIFO queue names end in .fifo."
  }

  assert {
    condition     = aws_sqs_queue.this[0].fifo_queue && aws_sqs_queue.dead_letter_queue[0].fifo_queue
    error_message = "A FIFO queue has a FIFO dead-letter queue."
  }

  assert {
    condition = alltrue([
      aws_sqs_queue.this[0].content_based_deduplication,
      aws_sqs_queue.this[0].deduplication_scope == "messageGroup",
      aws_sqs_queue.this[0].fifo_throughput_limit == "perMessageGroupId",
    ])
    error_message = "FIFO settings are passed through."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this[0].redrive_policy).deadLetterTargetArn == aws_sqs_queue.dead_letter_queue[0].arn
    error_message = "The FIFO queue redrives to its dead-letter queue."
  }

  assert {
    condition = alltrue([
      module.worker[0].function.environment[0].variables["TASKQUEUE_ATTEMPTS_TABLE"] == aws_dynamodb_table.idempotency[0].name,
      !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_IDEMPOTENCY_TABLE"),
    ])
    error_message = "A FIFO queue's worker counts attempts in the table by default, without idempotency unless asked for."
  }
}

run "without_redrive_allow_policy" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted                        = "without_redrive_allow_policy"
    create_dead_letter_queue_redrive_allow_policy = false
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dead_letter_queue) == 0
    error_message = "The redrive-allow policy can be left out."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this[0].redrive_policy).deadLetterTargetArn == aws_sqs_queue.dead_letter_queue[0].arn
    error_message = "The redrive policy stays."
  }
}

run "cross_account_producers" {
  variables {
    producer_principals = ["444455556666", "arn:aws:iam::777788889999:role/producer"]
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.this[0].policy).Statement[1] == {
      Sid       = "AllowProducers"
      Effect    = "Allow"
      Principal = { AWS = ["444455556666", "arn:aws:iam::777788889999:role/producer"] }
      Action    = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      Resource  = aws_sqs_queue.this[0].arn
    }
    error_message = "Listed producers may send to the queue, and not read its attributes (the policy among them)."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_policy.this[0].policy).Statement[0].Sid == "DenyInsecureTransport"
    error_message = "The TLS-only statement stays."
  }
}

run "caller_statements" {
  variables {
    producer_principals = ["444455556666"]
    queue_policy_statements = {
      FromOrdersTopic = {
        actions    = ["sqs:SendMessage"]
        principals = [{ type = "Service", identifiers = ["sns.amazonaws.com"] }]
        conditions = [{ test = "ArnEquals", variable = "aws:SourceArn", values = ["arn:aws:sns:eu-west-1:111122223333:orders"] }]
      }
      FromOrganization = {
        actions    = ["sqs:SendMessage", "sqs:GetQueueUrl"]
        principals = [{ type = "AWS", identifiers = ["*"] }]
        conditions = [
          { test = "StringEquals", variable = "aws:PrincipalOrgID", values = ["o-a1b2c3d4e5"] },
          { test = "StringEquals", variable = "aws:PrincipalTag/team", values = ["orders"] },
        ]
      }
    }
  }

  assert {
    condition = [for statement in jsondecode(aws_sqs_queue_policy.this[0].policy).Statement : statement.Sid] == [
      "DenyInsecureTransport", "AllowProducers", "FromOrdersTopic", "FromOrganization",
    ]
    error_message = "The caller's statements join the module's in the one queue policy."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.this[0].policy).Statement[2] == {
      Sid       = "FromOrdersTopic"
      Effect    = "Allow"
      Principal = { Service = ["sns.amazonaws.com"] }
      Action    = ["sqs:SendMessage"]
      Resource  = aws_sqs_queue.this[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = ["arn:aws:sns:eu-west-1:111122223333:orders"] } }
    }
    error_message = "An SNS topic may send, from its own ARN only; the statement's resource is the queue."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.this[0].policy).Statement[3] == {
      Sid       = "FromOrganization"
      Effect    = "Allow"
      Principal = { AWS = ["*"] }
      Action    = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      Resource  = aws_sqs_queue.this[0].arn
      Condition = { StringEquals = { "aws:PrincipalOrgID" = ["o-a1b2c3d4e5"], "aws:PrincipalTag/team" = ["orders"] } }
    }
    error_message = "Anyone, narrowed by conditions; conditions of one test are grouped."
  }
}
