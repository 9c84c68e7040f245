# EventBridge Scheduler: the schedule group in which producers schedule tasks due later than SQS can
# delay them (one-time schedules, taskqueue.schedules), and the periodic tasks. Every schedule's target
# sends the task message straight to the queue, with the scheduler role (iam.tf).

locals {
  scheduling          = local.create && var.create_scheduling
  schedule_group_name = coalesce(var.schedule_group_name, var.name)
  schedule_group_arn  = one(aws_scheduler_schedule_group.this[*].arn)
  account_id          = try(split(":", local.queue_arn)[4], null)
  scheduler_role_arn  = !local.scheduling ? null : var.create_role ? one(aws_iam_role.scheduler[*].arn) : var.scheduler_role_arn

  # The Scheduler takes only a standard queue as a schedule's dead-letter queue: a FIFO module gets one.
  schedule_dead_letter_queue_name = "${var.name}-schedule-dlq"
  schedule_dead_letter_queue_arn  = !local.scheduling ? null : var.fifo_queue ? one(aws_sqs_queue.schedule_dead_letter_queue[*].arn) : local.dead_letter_queue_arn
  schedule_dead_letter_queue_url  = !local.scheduling ? null : var.fifo_queue ? one(aws_sqs_queue.schedule_dead_letter_queue[*].url) : one(aws_sqs_queue.dead_letter_queue[*].url)

  # These mirror functions/taskqueue/limits.py (SCHEDULER_MAX_INPUT_BYTES) and dead_letter_queue.py
  # (DEAD_LETTER_ROOM_BYTES); tests/test_terraform.py holds the copies equal. A task message must fit
  # the Scheduler's input, and the queue with the room a dead letter's reason needs beside it.
  scheduler_max_input_bytes = 262144
  dead_letter_room_bytes    = 256
  sqs_default_message_bytes = 262144
  periodic_task_max_bytes   = min(local.scheduler_max_input_bytes, coalesce(var.max_message_size, local.sqs_default_message_bytes)) - local.dead_letter_room_bytes

  # periodic_tasks is `any` (variables.tf): here each becomes one shape. The input is the task message
  # as taskqueue.schedules.periodic_task_input builds it (tests/test_terraform.py compares the two):
  # jsonencode escapes the payload's "<", so the Scheduler replaces only the run's time in the id.
  periodic_tasks = { for name, task in var.periodic_tasks : name => {
    schedule = task.schedule
    timezone = coalesce(try(task.timezone, null), "UTC")
    enabled  = coalesce(try(task.enabled, null), true)
    group_id = try(task.group_id, null)
    # The queue of the task's priority (priorities.tf); the module's own without one.
    queue_arn   = try(task.priority, null) == null || try(task.priority, null) == local.default_priority ? local.queue_arn : aws_sqs_queue.priority[task.priority].arn
    description = try(task.description, null)
    input       = "{\"task\":${jsonencode(task.task)},\"payload\":${jsonencode(try(task.payload, null))},\"id\":\"${name}@<aws.scheduler.scheduled-time>\"}"
  } if local.scheduling }
  # Bytes, not characters: a payload may hold any Unicode, which SQS counts in UTF-8.
  periodic_task_bytes = { for name, task in local.periodic_tasks : name => (
    floor(length(replace(base64encode(task.input), "=", "")) * 3 / 4)
  ) }
}

# Producers' one-time schedules are not in the state, yet they depend on three things the module
# owns: the schedule group they live in (DeleteScheduleGroup deletes every schedule in it), the
# scheduler role whose ARN each one stored when it was created, and the queue they send to. The guard
# records those when they are created and fails any later plan that changes them (a rename, scheduling
# or the module turned off, a role replaced) unless a new schedule_loss_accepted accepts the loss. It is state
# only, and there whether or not the module creates anything, since `create = false` is one of those
# changes; `terraform destroy` of the whole stack evaluates no condition and takes it with the rest.
# The acceptance is a value, not a flag: a new one re-records once, and nothing has to be set back.
locals {
  schedules_identity = !local.scheduling ? null : jsonencode({
    schedule_group = local.schedule_group_name
    queue          = local.queue_name
    scheduler_role = var.create_role ? {
      name        = var.role_use_name_prefix ? null : "${var.name}-scheduler"
      name_prefix = var.role_use_name_prefix ? "${substr(local.role_name_prefix, 0, 27)}-scheduler-" : null
      path        = var.role_path
    } : { arn = var.scheduler_role_arn }
  })
}

resource "terraform_data" "schedules_guard" {
  # What was recorded stays (ignore_changes) until a new schedule_loss_accepted replaces the record
  # with what is there now.
  input            = local.schedules_identity
  triggers_replace = var.schedule_loss_accepted

  lifecycle {
    ignore_changes = [input]

    postcondition {
      condition = self.output == local.schedules_identity
      error_message = (self.output == null
        ? "Scheduling is new to this deployment: apply once with a new value of schedule_loss_accepted (there are no schedules to lose yet; say, schedule_loss_accepted = \"scheduling turned on\") so that its schedule group, scheduler role and queue are recorded and guarded from then on."
        : "This change would lose the producers' pending schedules: it deletes or renames the schedule group (which deletes every schedule in it), replaces the scheduler role (each schedule keeps the ARN it was created with, and fails to send for a day, then goes to the dead-letter queue) or renames the queue they send to. Recorded: ${self.output}; now: ${coalesce(local.schedules_identity, "no scheduling")}. Drain or move the schedules first (python -m taskqueue scheduled list), then apply with a new value of schedule_loss_accepted (say, the date and the reason): it accepts this one change."
      )
    }
  }
}

resource "aws_scheduler_schedule_group" "this" {
  count = local.scheduling ? 1 : 0

  name = local.schedule_group_name
  tags = var.tags

  lifecycle {
    precondition {
      condition = var.create_role == (var.scheduler_role_arn == null)
      error_message = (var.create_role
        ? "scheduler_role_arn is used only with create_role = false: remove it, or set create_role = false to send the schedules with that role."
        : "create_role = false needs scheduler_role_arn with create_scheduling: the ARN of the role the schedules send with (see the scheduler_role_policy_json output), or set create_scheduling = false."
      )
    }
  }
}

# A FIFO queue's dead-letter queue is FIFO too, and the Scheduler takes no FIFO queue as a dead-letter
# queue: the schedules' dead letters go to a standard queue of their own, encrypted like the others.
resource "aws_sqs_queue" "schedule_dead_letter_queue" {
  count = local.scheduling && var.fifo_queue ? 1 : 0

  name = local.schedule_dead_letter_queue_name

  message_retention_seconds = var.dead_letter_queue_message_retention_seconds
  max_message_size          = var.max_message_size

  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  tags = local.dead_letter_queue_tags
}

resource "aws_sqs_queue_policy" "schedule_dead_letter_queue" {
  count = local.scheduling && var.fifo_queue ? 1 : 0

  queue_url = aws_sqs_queue.schedule_dead_letter_queue[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.schedule_dead_letter_queue[0].arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

resource "aws_scheduler_schedule" "periodic" {
  #checkov:skip=CKV_AWS_297:The input is the task message the queue holds under its own encryption, and the Scheduler encrypts it at rest with an AWS-owned key; a customer key would need the Scheduler's and every producer's use of it in its key policy (and the producers' one-time schedules the same)
  for_each = local.periodic_tasks

  name                         = each.key
  group_name                   = aws_scheduler_schedule_group.this[0].name
  description                  = each.value.description
  schedule_expression          = each.value.schedule
  schedule_expression_timezone = each.value.timezone
  state                        = each.value.enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = each.value.queue_arn
    role_arn = local.scheduler_role_arn
    input    = each.value.input

    # The Scheduler's own defaults, written out: a day of retries, then the dead-letter queue.
    retry_policy {
      maximum_event_age_in_seconds = 86400
      maximum_retry_attempts       = 185
    }

    dead_letter_config {
      arn = local.schedule_dead_letter_queue_arn
    }

    dynamic "sqs_parameters" {
      for_each = each.value.group_id == null ? [] : [each.value.group_id]
      content {
        message_group_id = sqs_parameters.value
      }
    }
  }

  # A schedule may fire as soon as it exists: its role holds its permissions by then.
  depends_on = [aws_iam_role_policy.scheduler]

  lifecycle {
    precondition {
      condition     = contains(local.scheduler_time_zones, each.value.timezone)
      error_message = "periodic_tasks[\"${each.key}\"].timezone = \"${each.value.timezone}\" is not an IANA time zone name: use one such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"."
    }
    precondition {
      condition     = local.periodic_task_bytes[each.key] <= local.periodic_task_max_bytes
      error_message = "periodic_tasks[\"${each.key}\"]: its task message is ${local.periodic_task_bytes[each.key]} bytes, over the ${local.periodic_task_max_bytes} it may have (the smaller of the Scheduler's 262144-byte input and the queue's max_message_size, less ${local.dead_letter_room_bytes} bytes kept for a dead letter's reason): make the payload smaller."
    }
    precondition {
      condition     = var.fifo_queue == (each.value.group_id != null)
      error_message = var.fifo_queue ? "periodic_tasks[\"${each.key}\"] needs a group_id: the message group its runs are sent to on the FIFO queue." : "periodic_tasks[\"${each.key}\"].group_id applies to a FIFO queue only: remove it."
    }
    precondition {
      condition     = !var.fifo_queue || var.content_based_deduplication == true
      error_message = "periodic_tasks on a FIFO queue need content_based_deduplication = true: the Scheduler sets no deduplication ID, so every run's send would fail without it."
    }
  }
}
