# Powertools' DynamoDB persistence layer: records keyed by `id`, expired through `expiration`.

resource "aws_dynamodb_table" "idempotency" {
  count = var.create_idempotency_table ? 1 : 0

  name         = local.idempotency_table_name
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
