# A platform repository's own tasks (report_tasks/), built into the worker with build.py, with the
# permissions and settings they need, and the alarms sent to an encrypted SNS topic CloudWatch can use.

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  dist_dir       = coalesce(var.dist_dir, "${path.root}/../../dist")
  tasks_dist_dir = coalesce(var.tasks_dist_dir, "${path.root}/dist")
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
}

# The alarms' topic, encrypted. Not with the AWS-managed alias/aws/sns key: its policy cannot admit
# CloudWatch, so alarms could never publish. A key of its own lets CloudWatch use it.
resource "aws_kms_key" "alerts" {
  description             = "taskqueue-reports: the alarms' SNS topic"
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
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

resource "aws_sns_topic" "alerts" {
  name              = "taskqueue-reports-alerts"
  kms_master_key_id = aws_kms_key.alerts.arn
}

# CloudWatch may publish this queue's alarms to the topic, and no one else's.
resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudWatchAlarmsPublish"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alerts.arn
      Condition = { ArnLike = { "aws:SourceArn" = "arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:taskqueue-reports-*" } }
    }]
  })
}

module "task_queue" {
  source = "../../terraform"

  name = "taskqueue-reports"

  consumer_package = { filename = "${local.dist_dir}/consumer.zip" }
  # The worker built with --tasks report_tasks: the runtime plus this example's tasks.
  worker_package = { filename = "${local.tasks_dist_dir}/worker.zip" }
  task_modules   = ["report_tasks"]

  # Reports take a while: longer worker runs, a consumer that outlasts them.
  worker_timeout     = 120
  worker_memory_size = 1024
  consumer_timeout   = 300

  worker_environment_variables = {
    REPORTS_BUCKET = var.reports_bucket
  }

  # What the tasks touch, and nothing more.
  worker_policy_statements = {
    WriteReports = {
      actions   = ["s3:PutObject"]
      resources = ["arn:${local.partition}:s3:::${var.reports_bucket}/reports/*"]
    }
  }

  # Each report once, even if its message is delivered twice.
  create_idempotency_table = true
  idempotency_ttl_seconds  = 7 * 24 * 3600

  alarm_actions = [aws_sns_topic.alerts.arn]
  ok_actions    = [aws_sns_topic.alerts.arn]

  tags = {
    Example = "custom-tasks"
  }
}
