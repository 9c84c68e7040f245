# The optional DynamoDB table: Powertools' idempotency records and the worker's attempt counts.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "defaults" {
  assert {
    condition = alltrue([
      aws_dynamodb_table.idempotency[0].name == "orders-idempotency",
      module.worker[0].function.environment[0].variables["TASKQUEUE_ATTEMPTS_TABLE"] == aws_dynamodb_table.idempotency[0].name,
      !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_IDEMPOTENCY_TABLE"),
    ])
    error_message = "By default the worker counts attempts and keeps verdicts in the table, without idempotency."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "AttemptRecords"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      Resource = aws_dynamodb_table.idempotency[0].arn
    })
    error_message = "For attempts alone the worker may read and update items of that table, nothing more."
  }
}

run "without_table" {
  variables {
    track_attempts = false
  }

  assert {
    condition = alltrue([
      length(aws_dynamodb_table.idempotency) == 0,
      output.idempotency_table_name == null,
      length(setintersection(keys(module.worker[0].function.environment[0].variables), ["TASKQUEUE_IDEMPOTENCY_TABLE", "TASKQUEUE_ATTEMPTS_TABLE"])) == 0,
      !strcontains(module.worker[0].role_policy.policy, "dynamodb:"),
    ])
    error_message = "With track_attempts = false and no idempotency, no table and no DynamoDB permission."
  }
}

run "with_table" {
  variables {
    create_idempotency_table = true
    idempotency_ttl_seconds  = 3600
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.idempotency[0].name == "orders-idempotency",
      aws_dynamodb_table.idempotency[0].hash_key == "id",
      aws_dynamodb_table.idempotency[0].billing_mode == "PAY_PER_REQUEST",
      one(aws_dynamodb_table.idempotency[0].attribute).name == "id",
      one(aws_dynamodb_table.idempotency[0].attribute).type == "S",
    ])
    error_message = "The table has Powertools' layout: a string partition key named id."
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.idempotency[0].ttl[0].attribute_name == "expiration",
      aws_dynamodb_table.idempotency[0].ttl[0].enabled,
      aws_dynamodb_table.idempotency[0].server_side_encryption[0].enabled,
      aws_dynamodb_table.idempotency[0].point_in_time_recovery[0].enabled,
    ])
    error_message = "Records expire through the expiration attribute; the table is encrypted and recoverable."
  }

  assert {
    condition = alltrue([
      module.worker[0].function.environment[0].variables["TASKQUEUE_IDEMPOTENCY_TABLE"] == aws_dynamodb_table.idempotency[0].name,
      module.worker[0].function.environment[0].variables["TASKQUEUE_IDEMPOTENCY_TTL_SECONDS"] == "3600",
      module.worker[0].function.environment[0].variables["TASKQUEUE_ATTEMPTS_TABLE"] == aws_dynamodb_table.idempotency[0].name,
    ])
    error_message = "The worker is told the table and the TTL; attempts are counted in the same table."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "IdempotencyRecords"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      Resource = aws_dynamodb_table.idempotency[0].arn
    })
    error_message = "The worker may read and write records of that table only."
  }

  assert {
    condition     = !contains([for statement in jsondecode(module.consumer[0].role_policy.policy).Statement : statement.Sid], "IdempotencyRecords")
    error_message = "The consumer does not touch the table."
  }

  assert {
    condition     = output.idempotency_table_name == "orders-idempotency" && output.idempotency_table_arn == aws_dynamodb_table.idempotency[0].arn
    error_message = "The table's name and ARN are outputs."
  }
}

run "attempts_only" {
  variables {
    track_attempts = true
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.idempotency[0].name == "orders-idempotency",
      module.worker[0].function.environment[0].variables["TASKQUEUE_ATTEMPTS_TABLE"] == aws_dynamodb_table.idempotency[0].name,
      !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_IDEMPOTENCY_TABLE"),
    ])
    error_message = "track_attempts creates the table and names it to the worker, without turning on idempotency."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "AttemptRecords"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      Resource = aws_dynamodb_table.idempotency[0].arn
    })
    error_message = "The worker may read and update its attempt counts in that table only."
  }
}

run "fifo_without_attempts" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "fifo_without_attempts"
    fifo_queue             = true
    track_attempts         = false
  }

  assert {
    condition     = length(aws_dynamodb_table.idempotency) == 0 && !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_ATTEMPTS_TABLE")
    error_message = "A FIFO queue can opt out of attempt counting."
  }
}
