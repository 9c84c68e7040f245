# One role per function, each scoped to the ARNs it works on. The policies are jsonencode()d rather
# than aws_iam_policy_document data sources so that `terraform test` can assert on their contents;
# the same documents are outputs, for callers who bring their own roles (create_role = false).

locals {
  queue_arn             = one(aws_sqs_queue.this[*].arn)
  dead_letter_queue_arn = one(aws_sqs_queue.dead_letter_queue[*].arn)
  partition             = one(data.aws_partition.current[*].partition)

  # The log groups' and the worker's ARNs, spelled out: a reference would make the policies'
  # create_before_destroy theirs too (and the log groups', which the worker depends on), and a log group
  # of a fixed name cannot be created while the one it replaces still exists.
  log_group_arn_prefix = !local.create ? null : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda"
  # Also what the consumer invokes (TASKQUEUE_WORKER_FUNCTION): the consumer's settings, which its
  # role depends on, must not depend on the worker, whose log group would then be replaced
  # create-before-destroy too.
  worker_function_arn = !local.create ? null : "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.worker_function_name}"

  consumer_role_arn = one(module.consumer[*].role_arn)
  worker_role_arn   = one(module.worker[*].role_arn)

  # A name prefix gets a 26-character unique suffix within IAM's 64; the name part keeps 28 of them.
  role_name_prefix = substr(var.name, 0, 28)

  lambda_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  # What polls the queue (the consumer, or the worker under an event source mapping) receives,
  # deletes, delays retries through the visibility, and reads the queue's attributes.
  consume_queue_statement = {
    Sid    = "ConsumeQueue"
    Effect = "Allow"
    Action = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    Resource = local.queue_arns_resource
  }

  # With a KMS key, SQS calls KMS on the caller's behalf (kms:ViaService) with the queue's ARN as
  # encryption context: each statement is good for its own queue, through SQS, and nothing else.
  sqs_via_service = "sqs.${coalesce(local.region, "unknown")}.amazonaws.com"
  queue_kms_decrypt_statements = var.kms_master_key_id == null ? [] : [{
    Sid       = "DecryptQueueMessages"
    Effect    = "Allow"
    Action    = "kms:Decrypt"
    Resource  = var.kms_master_key_id
    Condition = { StringEquals = { "kms:ViaService" = local.sqs_via_service, "kms:EncryptionContext:aws:sqs:arn" = local.queue_arns } }
  }]
  queue_kms_encrypt_statements = var.kms_master_key_id == null ? [] : [{
    Sid       = "EncryptQueueMessages"
    Effect    = "Allow"
    Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
    Resource  = var.kms_master_key_id
    Condition = { StringEquals = { "kms:ViaService" = local.sqs_via_service, "kms:EncryptionContext:aws:sqs:arn" = local.queue_arns } }
  }]
  dead_letter_kms_statements = var.kms_master_key_id == null ? [] : [{
    Sid       = "EncryptDeadLetters"
    Effect    = "Allow"
    Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
    Resource  = var.kms_master_key_id
    Condition = { StringEquals = { "kms:ViaService" = local.sqs_via_service, "kms:EncryptionContext:aws:sqs:arn" = [local.dead_letter_queue_arn] } }
  }]

  # X-Ray takes no resource-level permissions, so its policy is AWS's managed one; so is the ENI
  # management a function in a VPC needs.
  managed_policy_arns = merge(
    var.tracing_mode == "Active" ? { tracing = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess" } : {},
    local.vpc_enabled ? { vpc = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess" } : {},
  )

  consumer_role_policy_json = !local.consumer ? null : jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.log_group_arn_prefix}/${local.consumer_function_name}:*"
        },
        local.consume_queue_statement,
        {
          Sid      = "InvokeWorker"
          Effect   = "Allow"
          Action   = "lambda:InvokeFunction"
          Resource = local.worker_function_arn
        },
      ],
      local.queue_kms_decrypt_statements,
    )
  })

  # The Scheduler assumes the role only for schedules of this module's group (confused deputy:
  # aws:SourceArn must be the group's ARN, never a schedule's). The ARN is spelled out rather than read
  # from the group, so that a caller's role (create_role = false) built from this policy is no cycle.
  scheduler_assume_role_policy = !local.scheduling ? null : jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = {
        "aws:SourceAccount" = local.account_id
        "aws:SourceArn"     = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${local.schedule_group_name}"
      } }
    }]
  })

  # The schedules send task messages to the queue, and what they cannot deliver to their dead-letter queue.
  scheduler_role_policy_json = !local.scheduling ? null : jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "SendTasks"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.queue_arns_resource
        },
        {
          Sid      = "SendScheduleDeadLetters"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.schedule_dead_letter_queue_arn
        },
      ],
      local.queue_kms_encrypt_statements,
      var.kms_master_key_id == null ? [] : [{
        Sid       = "EncryptScheduleDeadLetters"
        Effect    = "Allow"
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = var.kms_master_key_id
        Condition = { StringEquals = { "kms:ViaService" = local.sqs_via_service, "kms:EncryptionContext:aws:sqs:arn" = [local.schedule_dead_letter_queue_arn] } }
      }],
    )
  })

  table_arn = one(aws_dynamodb_table.idempotency[*].arn)

  # Status records only: their keys start with the status prefix (the table also holds attempts and
  # idempotency records, which a producer must not touch).
  status_leading_keys = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["${local.status_key_prefix}*"] } }
  status_write_statement = {
    Sid       = "WriteTaskStatus"
    Effect    = "Allow"
    Action    = "dynamodb:UpdateItem"
    Resource  = local.table_arn
    Condition = local.status_leading_keys
  }
  # What a producer needs to read statuses: a task's record, and the index by state and time.
  status_read_statements = [
    {
      Sid       = "ReadTaskStatus"
      Effect    = "Allow"
      Action    = "dynamodb:GetItem"
      Resource  = local.table_arn
      Condition = local.status_leading_keys
    },
    {
      Sid      = "QueryTaskStatusByState"
      Effect   = "Allow"
      Action   = "dynamodb:Query"
      Resource = local.table_arn == null ? null : "${local.table_arn}/index/${local.status_index_name}"
    },
  ]
  # DynamoDB uses the table's key on the caller's behalf, with the table's name as encryption context:
  # by Sid, the tables whose key each role may use (producers: the status records'; the worker: its tables).
  table_kms_statements = {
    for sid, tables in {
      TaskStatusTableKey  = [local.table_name]
      IdempotencyTableKey = concat([local.table_name], local.flow_control ? [local.flow_control_table_name] : [])
      } : sid => {
      Sid      = sid
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = var.idempotency_table_kms_key_arn
      Condition = { StringEquals = {
        "kms:ViaService"                               = "dynamodb.${coalesce(local.region, "unknown")}.amazonaws.com"
        "kms:EncryptionContext:aws:dynamodb:tableName" = tables
      } }
    }
  }
  status_table_kms_statements = var.idempotency_table_kms_key_arn == null ? [] : [local.table_kms_statements.TaskStatusTableKey]
  worker_role_policy_json = !local.create ? null : jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.log_group_arn_prefix}/${local.worker_function_name}:*"
        },
        {
          Sid      = "SendDeadLetters"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.dead_letter_queue_arn
        },
      ],
      # The event source mapping polls with the worker's role; the worker itself then sets the
      # backoff of the records that failed.
      local.trigger.worker_polls_queue ? [local.consume_queue_statement] : [],
      local.trigger.worker_polls_queue ? local.queue_kms_decrypt_statements : [],
      local.dead_letter_kms_statements,
      # Idempotency records and attempt counts.
      # Idempotency writes and deletes records of its own; attempt counts and verdicts are read and updated.
      local.create_table && (var.create_idempotency_table || var.track_attempts) ? [{
        Sid      = var.create_idempotency_table ? "IdempotencyRecords" : "AttemptRecords"
        Effect   = "Allow"
        Action   = var.create_idempotency_table ? ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"] : ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        Resource = local.table_arn
      }] : [],
      # Flow control: rate buckets are read and updated, key leases put and deleted; no scan (the CLI's).
      local.flow_control ? [{
        Sid      = "FlowControl"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
        Resource = one(aws_dynamodb_table.flow_control[*].arn)
      }] : [],
      # Task status: the worker writes status records (their keys' prefix), and nothing else of them.
      local.track_status ? [local.status_write_statement] : [],
      local.create_table && var.idempotency_table_kms_key_arn != null ? [local.table_kms_statements.IdempotencyTableKey] : [],
    )
  })
}

################################################################################
# Worker: what the user's tasks touch (the functions' own roles are in modules/function)
################################################################################

# What the user's tasks touch: their own statements and policies.
resource "aws_iam_role_policy" "worker_tasks" {
  count = local.create && var.create_role && length(var.worker_policy_statements) > 0 ? 1 : 0

  name = "tasks"
  role = module.worker[0].role.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [for sid, statement in var.worker_policy_statements : merge(
      {
        Sid      = sid
        Effect   = statement.effect
        Action   = statement.actions
        Resource = statement.resources
      },
      local.caller_statement_conditions["worker/${sid}"],
    )]
  })

  # Replaced with its role (a new name): the new one is attached before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy_attachment" "worker_tasks" {
  for_each = local.create && var.create_role ? var.worker_policy_arns : {}

  role       = module.worker[0].role.name
  policy_arn = each.value

  # Replaced with its role (a new name): the new one is attached before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Scheduler (create_scheduling): the role the schedules send with
################################################################################

resource "aws_iam_role" "scheduler" {
  count = local.scheduling && var.create_role ? 1 : 0

  name = var.role_use_name_prefix ? null : "${var.name}-scheduler"
  # "-scheduler-" is one character longer than "-consumer-": the name keeps 27, within the 38 a prefix may have.
  name_prefix          = var.role_use_name_prefix ? "${substr(local.role_name_prefix, 0, 27)}-scheduler-" : null
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy   = local.scheduler_assume_role_policy

  tags = local.role_tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = local.scheduling && var.create_role ? 1 : 0

  name   = "taskqueue-scheduler"
  role   = aws_iam_role.scheduler[0].id
  policy = local.scheduler_role_policy_json

  # Replaced with its role (a new name): the new one is attached before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}
