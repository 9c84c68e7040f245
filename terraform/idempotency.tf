# The worker's DynamoDB table, records keyed by `id` and expired through `expiration`: Powertools'
# idempotency records (create_idempotency_table) and the worker's count of each task's failed
# attempts (track_attempts), and each task's status (track_status). One table serves them all.

resource "aws_dynamodb_table" "idempotency" {
  count = local.create_table ? 1 : 0

  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  # Task status (track_status): an index of the status records by state and time of change. Only status
  # records carry these attributes, so the index holds nothing else.
  dynamic "attribute" {
    for_each = local.track_status ? { (local.status_state_attribute) = "S", (local.status_changed_at_attribute) = "N" } : {}
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.track_status ? [local.status_index_name] : []
    content {
      name               = global_secondary_index.value
      hash_key           = local.status_state_attribute
      range_key          = local.status_changed_at_attribute
      projection_type    = "INCLUDE"
      non_key_attributes = local.status_index_projected
    }
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
