output "version" {
  description = "The module's release (the VERSION file; build.py --version and its dist/manifest.json report the same)."
  value       = trimspace(file("${path.module}/VERSION"))
}

################################################################################
# Queues
################################################################################

output "queue_url" {
  description = "URL of the queue: where producers send tasks."
  value       = one(aws_sqs_queue.this[*].url)
}

output "queue_arn" {
  description = "ARN of the queue."
  value       = local.queue_arn
}

output "queue_name" {
  description = "Name of the queue."
  value       = one(aws_sqs_queue.this[*].name)
}

output "queue_urls" {
  description = "With `priorities`: each priority's queue URL, by name (`TaskQueue(queue_url, queue_urls=...)`; `$TASKQUEUE_QUEUE_URLS` of `python -m taskqueue`). Empty without priorities."
  value       = { for queue in local.priority_queues : queue.priority => queue.queue_url }
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = one(aws_sqs_queue.dead_letter_queue[*].url)
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = local.dead_letter_queue_arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = one(aws_sqs_queue.dead_letter_queue[*].name)
}

output "producer_policy_json" {
  description = "IAM policy (JSON) that lets a principal of this account send tasks to the queue (with `priorities`, to every priority's; and use its KMS key, through SQS only), and with `create_scheduling` schedule them in the schedule group with the scheduler role; attach it to your producers' roles."
  value = !local.create ? null : jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "SendTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = local.queue_arns_resource
      }],
      local.queue_kms_encrypt_statements,
      # Task status (track_status): the producer records tasks queued, scheduled and cancelled, and reads
      # statuses back: status records only.
      [for statement in concat(local.status_read_statements, [local.status_write_statement], local.status_table_kms_statements) : statement if local.track_status],
      # (A for with an if: statements of different shapes make a tuple, which a conditional cannot empty.)
      [for statement in [
        {
          Sid      = "ManageTaskSchedules"
          Effect   = "Allow"
          Action   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"]
          Resource = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${local.schedule_group_name}/*"
        },
        # IAM cannot scope ListSchedules to a group (it takes no resource): the producer names the group.
        {
          Sid      = "ListSchedules"
          Effect   = "Allow"
          Action   = "scheduler:ListSchedules"
          Resource = "*"
        },
        {
          Sid       = "PassSchedulerRole"
          Effect    = "Allow"
          Action    = "iam:PassRole"
          Resource  = local.scheduler_role_arn
          Condition = { StringEquals = { "iam:PassedToService" = "scheduler.amazonaws.com" } }
        },
      ] : statement if local.scheduling],
    )
  })
}

################################################################################
# Functions
################################################################################

output "consumer_function_name" {
  description = "Name of the consumer function (null with an event source mapping)."
  value       = one(module.consumer[*].function.function_name)
}

output "consumer_function_arn" {
  description = "ARN of the consumer function (null with an event source mapping)."
  value       = one(module.consumer[*].function.arn)
}

output "consumer_function_qualified_arn" {
  description = "ARN of the consumer function with its version (`:$LATEST` unless `publish`; null with an event source mapping)."
  value       = one(module.consumer[*].function.qualified_arn)
}

output "consumer_function_version" {
  description = "Latest published version of the consumer (`$LATEST` unless `publish`; null with an event source mapping)."
  value       = one(module.consumer[*].function.version)
}

output "worker_function_name" {
  description = "Name of the worker function."
  value       = one(module.worker[*].function.function_name)
}

output "worker_function_arn" {
  description = "ARN of the worker function."
  value       = one(module.worker[*].function.arn)
}

output "worker_function_qualified_arn" {
  description = "ARN of the worker function with its version (`:$LATEST` unless `publish`)."
  value       = one(module.worker[*].function.qualified_arn)
}

output "worker_function_version" {
  description = "Latest published version of the worker (`$LATEST` unless `publish`)."
  value       = one(module.worker[*].function.version)
}

output "consumer_cloudwatch_log_group_name" {
  description = "Name of the consumer's log group (null with an event source mapping)."
  value       = one(module.consumer[*].log_group.name)
}

output "consumer_cloudwatch_log_group_arn" {
  description = "ARN of the consumer's log group (null with an event source mapping)."
  value       = one(module.consumer[*].log_group.arn)
}

output "worker_cloudwatch_log_group_name" {
  description = "Name of the worker's log group."
  value       = one(module.worker[*].log_group.name)
}

output "worker_cloudwatch_log_group_arn" {
  description = "ARN of the worker's log group."
  value       = one(module.worker[*].log_group.arn)
}

################################################################################
# Roles
################################################################################

output "consumer_role_name" {
  description = "Name of the consumer's IAM role, the module's or yours (null with an event source mapping)."
  value       = try(regex("[^/]+$", local.consumer_role_arn), null)
}

output "consumer_role_arn" {
  description = "ARN of the consumer's IAM role, the module's or yours (null with an event source mapping)."
  value       = local.consumer_role_arn
}

output "consumer_role_policy_json" {
  description = "The consumer's permissions (JSON): the module's inline policy on its role, or, with `create_role = false`, what to attach to yours (null with an event source mapping)."
  value       = local.consumer_role_policy_json
}

output "worker_role_name" {
  description = "Name of the worker's IAM role, the module's or yours: attach what your tasks need to it, or use `worker_policy_arns` and `worker_policy_statements`."
  value       = try(regex("[^/]+$", local.worker_role_arn), null)
}

output "worker_role_arn" {
  description = "ARN of the worker's IAM role, the module's or yours."
  value       = local.worker_role_arn
}

output "worker_role_policy_json" {
  description = "The worker's permissions (JSON), without your tasks': the module's inline policy on its role, or, with `create_role = false`, what to attach to yours."
  value       = local.worker_role_policy_json
}

################################################################################
# Triggers
################################################################################

output "schedule_rule_arn" {
  description = "ARN of the EventBridge rule that starts the consumer (null with an event source mapping)."
  value       = one(aws_cloudwatch_event_rule.consumer_trigger[*].arn)
}

output "event_source_mapping_arn" {
  description = "ARN of the event source mapping (null in schedule mode)."
  value       = one(aws_lambda_event_source_mapping.worker[*].arn)
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping (null in schedule mode)."
  value       = one(aws_lambda_event_source_mapping.worker[*].uuid)
}

################################################################################
# DynamoDB table
################################################################################

output "status_table_name" {
  description = "Name of the table of task status (null unless `track_status`): `TaskQueue(status=StatusTable(name))`, `$TASKQUEUE_STATUS_TABLE` for `python -m taskqueue status`."
  value       = local.track_status ? one(aws_dynamodb_table.idempotency[*].name) : null
}

output "status_index_name" {
  description = "Name of the table's index of task status by state and time (null unless `track_status`)."
  value       = local.track_status && local.create_table ? local.status_index_name : null
}

output "idempotency_table_name" {
  description = "Name of the DynamoDB table of idempotency records and attempt counts (null when it is not created)."
  value       = one(aws_dynamodb_table.idempotency[*].name)
}

output "idempotency_table_arn" {
  description = "ARN of the DynamoDB table of idempotency records and attempt counts (null when it is not created)."
  value       = local.table_arn
}

################################################################################
# Scheduling
################################################################################

output "schedule_group_name" {
  description = "Name of the EventBridge Scheduler schedule group (null without `create_scheduling`): the producer's `SchedulingConfig.group_name`, `$TASKQUEUE_SCHEDULE_GROUP` for the CLI."
  value       = one(aws_scheduler_schedule_group.this[*].name)
}

output "schedule_group_arn" {
  description = "ARN of the schedule group (null without `create_scheduling`)."
  value       = local.schedule_group_arn
}

output "scheduler_role_arn" {
  description = "ARN of the role the schedules send with (null without `create_scheduling`): the producer's `SchedulingConfig.role_arn`, `$TASKQUEUE_SCHEDULER_ROLE_ARN` for the CLI."
  value       = local.scheduler_role_arn
}

output "scheduler_role_policy_json" {
  description = "The scheduler role's policy (JSON), for a role of your own (`create_role = false`): send to the queue and to the schedules' dead-letter queue."
  value       = local.scheduler_role_policy_json
}

output "scheduler_assume_role_policy_json" {
  description = "The scheduler role's trust policy (JSON), for a role of your own (`create_role = false`): the Scheduler, for this account and schedule group only."
  value       = local.scheduler_assume_role_policy
}

output "schedule_dead_letter_queue_arn" {
  description = "ARN of the standard queue a schedule sends what it cannot deliver to: the dead-letter queue, or for a FIFO queue `<name>-schedule-dlq` (null without `create_scheduling`). The producer's `SchedulingConfig.dead_letter_arn`, `$TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN` for the CLI."
  value       = local.schedule_dead_letter_queue_arn
}

output "schedule_dead_letter_queue_url" {
  description = "URL of the schedules' dead-letter queue (null without `create_scheduling`): `--dlq-url` of `python -m taskqueue dlq` for a FIFO queue's schedule failures."
  value       = local.schedule_dead_letter_queue_url
}

output "periodic_task_schedule_arns" {
  description = "ARN of each periodic task's schedule, by name."
  value       = { for name, schedule in aws_scheduler_schedule.periodic : name => schedule.arn }
}

################################################################################
# Monitoring
################################################################################

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms, by alarm: `dead_letter_queue_not_empty`, `oldest_message_age`, `worker_errors`, `worker_throttles`, `worker_cannot_start`, and `consumer_errors` in schedule mode (empty without `create_alarms`)."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null without `create_dashboard`)."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard (null without `create_dashboard`)."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_arn)
}

output "flow_control_table_name" {
  description = "Name of the flow-control table (rate buckets, key leases; null unless flow_control): `python -m taskqueue limits --table` reads it, or $TASKQUEUE_FLOW_CONTROL_TABLE."
  value       = one(aws_dynamodb_table.flow_control[*].name)
}

output "flow_control_table_arn" {
  description = "ARN of the flow-control table (null unless flow_control)."
  value       = one(aws_dynamodb_table.flow_control[*].arn)
}
