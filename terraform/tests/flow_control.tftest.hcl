# Flow control: the table of rate buckets and key leases, created only with flow_control = true, and the
# worker's access to it, scoped to it.

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
      length(aws_dynamodb_table.flow_control) == 0,
      output.flow_control_table_name == null,
      !contains(keys(module.worker[0].function.environment[0].variables), "TASKQUEUE_FLOW_CONTROL_TABLE"),
      !strcontains(module.worker[0].role_policy.policy, "FlowControl"),
    ])
    error_message = "Without flow_control: no table, no variable, no permission."
  }
}

run "on" {
  variables {
    flow_control = true
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.flow_control[0].name == "orders-flow-control",
      aws_dynamodb_table.flow_control[0].hash_key == "id",
      aws_dynamodb_table.flow_control[0].billing_mode == "PAY_PER_REQUEST",
      aws_dynamodb_table.flow_control[0].ttl[0].attribute_name == "expiration",
      aws_dynamodb_table.flow_control[0].ttl[0].enabled,
      aws_dynamodb_table.flow_control[0].server_side_encryption[0].enabled,
      output.flow_control_table_name == aws_dynamodb_table.flow_control[0].name,
    ])
    error_message = "flow_control creates an on-demand table keyed by id, its items expiring through expiration."
  }

  assert {
    condition     = module.worker[0].function.environment[0].variables["TASKQUEUE_FLOW_CONTROL_TABLE"] == aws_dynamodb_table.flow_control[0].name
    error_message = "The worker is told the table."
  }

  assert {
    condition = contains(jsondecode(module.worker[0].role_policy.policy).Statement, {
      Sid      = "FlowControl"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      Resource = aws_dynamodb_table.flow_control[0].arn
    })
    error_message = "The worker may read, update, put and delete items of that table only (no scan: the CLI's)."
  }
}

run "dashboard" {
  variables {
    flow_control     = true
    create_dashboard = true
  }

  assert {
    condition     = contains([for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : widget.properties.title], "Held back by a flow limit, by task")
    error_message = "With flow control the dashboard shows the starts held back, per task."
  }
}

run "named" {
  variables {
    flow_control            = true
    flow_control_table_name = "shared-limits"
  }

  assert {
    condition     = aws_dynamodb_table.flow_control[0].name == "shared-limits"
    error_message = "flow_control_table_name names the table."
  }
}

run "encrypted_tables" {
  variables {
    flow_control                  = true
    idempotency_table_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = [for statement in jsondecode(module.worker[0].role_policy.policy).Statement : statement.Condition.StringEquals["kms:EncryptionContext:aws:dynamodb:tableName"] if statement.Sid == "IdempotencyTableKey"] == [["orders-idempotency", "orders-flow-control"]]
    error_message = "The worker may use the tables' key, through DynamoDB, for its tables: the flow control table's too."
  }
}

run "needs_track_attempts" {
  command = plan

  variables {
    flow_control   = true
    track_attempts = false
  }

  expect_failures = [terraform_data.worker_settings]
}
