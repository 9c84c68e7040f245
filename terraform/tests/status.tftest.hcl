# Task status (track_status): the table's index by state and time, the TTL, the worker's settings and the
# IAM: the worker writes status records, the producer writes and reads them, nothing touches the rest.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "off_by_default" {
  assert {
    condition = alltrue([
      length(aws_dynamodb_table.idempotency[0].global_secondary_index) == 0,
      length(aws_dynamodb_table.idempotency[0].attribute) == 1,
      length(setintersection(keys(module.worker[0].function.environment[0].variables), ["TASKQUEUE_STATUS_TABLE", "TASKQUEUE_TRACK_STATUS", "TASKQUEUE_STATUS_TTL_SECONDS"])) == 0,
      !strcontains(module.worker[0].role_policy.policy, "WriteTaskStatus"),
      !strcontains(output.producer_policy_json, "dynamodb:"),
      output.status_table_name == null,
      output.status_index_name == null,
    ])
    error_message = "Without track_status: no index, no status settings, no status permissions."
  }
}

run "all_tasks" {
  variables {
    track_status       = "all"
    status_ttl_seconds = 86400
  }

  assert {
    condition = alltrue([
      one(aws_dynamodb_table.idempotency[0].global_secondary_index).name == "taskqueue-status-by-state",
      one(aws_dynamodb_table.idempotency[0].global_secondary_index).hash_key == "task_state",
      one(aws_dynamodb_table.idempotency[0].global_secondary_index).range_key == "state_changed_at",
      one(aws_dynamodb_table.idempotency[0].global_secondary_index).projection_type == "INCLUDE",
      toset(one(aws_dynamodb_table.idempotency[0].global_secondary_index).non_key_attributes) == toset(["task", "task_id", "message_id", "attempts", "reason", "last_error"]),
      toset([for a in aws_dynamodb_table.idempotency[0].attribute : "${a.name}:${a.type}"]) == toset(["id:S", "task_state:S", "state_changed_at:N"]),
    ])
    error_message = "The index answers 'tasks in a state since a time': partition task_state, sort state_changed_at."
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.idempotency[0].ttl[0].attribute_name == "expiration",
      aws_dynamodb_table.idempotency[0].ttl[0].enabled,
    ])
    error_message = "Status records expire through the table's TTL attribute."
  }

  assert {
    condition = alltrue([
      module.worker[0].function.environment[0].variables["TASKQUEUE_STATUS_TABLE"] == aws_dynamodb_table.idempotency[0].name,
      module.worker[0].function.environment[0].variables["TASKQUEUE_TRACK_STATUS"] == "all",
      module.worker[0].function.environment[0].variables["TASKQUEUE_STATUS_TTL_SECONDS"] == "86400",
      output.status_table_name == aws_dynamodb_table.idempotency[0].name,
      output.status_index_name == "taskqueue-status-by-state",
    ])
    error_message = "The worker tracks every task in the module's table, with the module's TTL; the outputs name both."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid       = "WriteTaskStatus"
      Effect    = "Allow"
      Action    = "dynamodb:UpdateItem"
      Resource  = aws_dynamodb_table.idempotency[0].arn
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["taskqueue-status#*"] } }
    })
    error_message = "The worker may write status records, by their key prefix."
  }

  assert {
    condition = alltrue([
      contains(jsondecode(output.producer_policy_json).Statement, {
        Sid       = "ReadTaskStatus"
        Effect    = "Allow"
        Action    = "dynamodb:GetItem"
        Resource  = aws_dynamodb_table.idempotency[0].arn
        Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["taskqueue-status#*"] } }
      }),
      contains(jsondecode(output.producer_policy_json).Statement, {
        Sid      = "QueryTaskStatusByState"
        Effect   = "Allow"
        Action   = "dynamodb:Query"
        Resource = "${aws_dynamodb_table.idempotency[0].arn}/index/taskqueue-status-by-state"
      }),
      contains(jsondecode(output.producer_policy_json).Statement, {
        Sid       = "WriteTaskStatus"
        Effect    = "Allow"
        Action    = "dynamodb:UpdateItem"
        Resource  = aws_dynamodb_table.idempotency[0].arn
        Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["taskqueue-status#*"] } }
      }),
    ])
    error_message = "The producer may read status records (a record, the index) and write them (queued, scheduled, cancelled)."
  }

  assert {
    condition     = length([for s in jsondecode(output.producer_policy_json).Statement : s if strcontains(jsonencode(s.Action), "dynamodb:") && !contains(["ReadTaskStatus", "QueryTaskStatusByState", "WriteTaskStatus"], s.Sid)]) == 0
    error_message = "The producer gets no other DynamoDB permission: the table's attempts and idempotency records are not its to read."
  }
}

run "status_alone_creates_the_table" {
  variables {
    track_attempts = false
    track_status   = "opted_in"
  }

  assert {
    condition = alltrue([
      length(aws_dynamodb_table.idempotency) == 1,
      module.worker[0].function.environment[0].variables["TASKQUEUE_TRACK_STATUS"] == "opted_in",
      !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_ATTEMPTS_TABLE"),
      length([for s in jsondecode(module.worker[0].role_policy.policy).Statement : s if strcontains(jsonencode(s.Action), "dynamodb:")]) == 1,
    ])
    error_message = "track_status alone creates the table; the worker then may write status records only."
  }
}

run "encrypted_table" {
  variables {
    track_status                  = "all"
    idempotency_table_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = contains([for s in jsondecode(output.producer_policy_json).Statement : s.Sid], "TaskStatusTableKey")
    error_message = "A producer reading an encrypted table's status records may use its key (through DynamoDB only)."
  }

  assert {
    condition = contains(jsondecode(output.producer_policy_json).Statement, {
      Sid      = "TaskStatusTableKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = var.idempotency_table_kms_key_arn
      Condition = { StringEquals = {
        "kms:ViaService"                               = "dynamodb.eu-west-1.amazonaws.com"
        "kms:EncryptionContext:aws:dynamodb:tableName" = ["orders-idempotency"]
      } }
    })
    error_message = "A producer may use the table's key through DynamoDB, for that table only."
  }
}

run "bad_track_status" {
  command = plan

  variables {
    track_status = "yes"
  }

  expect_failures = [var.track_status]
}
