# The queues' key. The account administers it and lets IAM policies grant its use (the module's role
# policies do, through SQS only); the two AWS services that send to the queue use it for that.

resource "aws_kms_key" "queues" {
  description             = "${local.name}: the task queue and its dead-letter queue"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersAndDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # SNS and EventBridge encrypt what they deliver to the queue, for this account's topics and rules.
        Sid       = "ProducerServicesEncrypt"
        Effect    = "Allow"
        Principal = { Service = ["sns.amazonaws.com", "events.amazonaws.com"] }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        # Producers of other accounts send through SQS (their own IAM policy must allow it too).
        Sid       = "ProducerAccountsEncrypt"
        Effect    = "Allow"
        Principal = { AWS = [for account in var.producer_account_ids : "arn:${local.partition}:iam::${account}:root"] }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = "sqs.${var.region}.amazonaws.com" } }
      },
    ]
  })
}
