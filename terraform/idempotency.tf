# The worker's DynamoDB table, records keyed by `id` and expired through `expiration`: Powertools'
# idempotency records (create_idempotency_table) and the worker's count of each task's failed
# attempts (track_attempts). One table serves both.

resource "aws_dynamodb_table" "idempotency" {
  count = local.create_table ? 1 : 0

  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

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
