# Every path that tends to break on real AWS, together: a customer-managed KMS key on the queues, the
# functions in a private VPC, producers in other accounts and AWS services sending through extra
# queue policy statements, the platform's own IAM roles (create_role = false) and the dashboard. See
# README.md for what each file adds.

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "taskqueue-complete"
  dist_dir   = coalesce(var.dist_dir, "${path.root}/../../dist")
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}

module "task_queue" {
  source = "../../terraform"

  name = local.name

  consumer_package = { filename = "${local.dist_dir}/consumer.zip" }
  worker_package   = { filename = "${local.dist_dir}/worker.zip" }

  # Encryption: both queues under the key of keys.tf; the module's policies scope the roles' use of
  # it to SQS and to these queues.
  kms_master_key_id = aws_kms_key.queues.arn

  # The platform's own roles (roles.tf): the module creates none and attaches nothing to them.
  create_role        = false
  consumer_role_arn  = local.consumer_role_arn
  worker_role_arn    = local.worker_role_arn
  scheduler_role_arn = aws_iam_role.scheduler.arn

  # A task on a calendar, in the office's time zone (producers schedule one-time tasks themselves, in
  # the module's schedule group, with the producer policy).
  periodic_tasks = {
    weekly_cleanup = {
      schedule = "cron(0 6 ? * MON *)"
      timezone = "Europe/Berlin"
      task     = "cleanup"
      payload  = { older_than_days = 30 }
    }
  }

  # Private subnets with VPC endpoints for SQS, Lambda and DynamoDB (network.tf).
  vpc_subnet_ids         = aws_subnet.private[*].id
  vpc_security_group_ids = [aws_security_group.functions.id]

  # Producers: other accounts by ID, and an SNS topic and an EventBridge rule of this account, each
  # admitted for its own ARN only (producers.tf).
  producer_principals = var.producer_account_ids
  queue_policy_statements = {
    FromOrderEvents = {
      actions    = ["sqs:SendMessage"]
      principals = [{ type = "Service", identifiers = ["sns.amazonaws.com"] }]
      conditions = [{ test = "ArnEquals", variable = "aws:SourceArn", values = [aws_sns_topic.order_events.arn] }]
    }
    FromNightlyRule = {
      actions    = ["sqs:SendMessage"]
      principals = [{ type = "Service", identifiers = ["events.amazonaws.com"] }]
      conditions = [{ test = "ArnEquals", variable = "aws:SourceArn", values = [aws_cloudwatch_event_rule.nightly_report.arn] }]
    }
  }

  # Each task once, and failed attempts counted per task.
  create_idempotency_table = true
  track_attempts           = true

  # The queue's dashboard (the alarms are the module's defaults; see examples/custom-tasks for
  # sending them to an encrypted SNS topic).
  create_dashboard = true

  tags = {
    Example = "complete"
  }
}
