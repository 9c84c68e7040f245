# Flow control (docs/flow-control.md): the tasks' rate buckets and the leases of their keys' slots, in a
# DynamoDB table of its own, created only with flow_control = true. The module cannot tell at plan time
# which tasks declare a limit (they are in the worker's package): a worker whose task declares one without
# this table refuses to start (WorkerStartFailed, the error naming the task and this input).

locals {
  flow_control            = local.create && var.flow_control
  flow_control_table_name = coalesce(var.flow_control_table_name, "${var.name}-flow-control")
}

resource "aws_dynamodb_table" "flow_control" {
  count = local.flow_control ? 1 : 0

  name         = local.flow_control_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  # A bucket untouched for a day, a lease an hour past its expiry: gone (an expired lease is free anyway).
  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.idempotency_table_kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}
