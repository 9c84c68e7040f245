# Scheduling: the schedule group, the scheduler role (least privilege, exact JSON), the producer
# policy's scheduling statements, the periodic tasks' schedules, and the schedules' dead-letter queue.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "scheduling" {
  assert {
    condition     = aws_scheduler_schedule_group.this[0].name == "orders"
    error_message = "The schedule group is named after var.name."
  }

  assert {
    condition = jsondecode(aws_iam_role.scheduler[0].assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = {
        "aws:SourceAccount" = "111122223333"
        "aws:SourceArn"     = "arn:aws:scheduler:eu-west-1:111122223333:schedule-group/orders"
      } }
    }]
    error_message = "Only the Scheduler may assume the scheduler role, for this account's schedule group only."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement == [
      {
        Sid      = "SendTasks"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = "arn:aws:sqs:eu-west-1:111122223333:mock-queue"
      },
      {
        Sid      = "SendScheduleDeadLetters"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = "arn:aws:sqs:eu-west-1:111122223333:mock-dlq"
      },
    ]
    error_message = "The scheduler role may send to the queue and to the dead-letter queue: nothing else."
  }

  assert {
    condition = alltrue([
      aws_iam_role.scheduler[0].name_prefix == "orders-scheduler-",
      aws_iam_role_policy.scheduler[0].role == aws_iam_role.scheduler[0].id,
    ])
    error_message = "The scheduler role is a role of its own, named after var.name, holding its own policy."
  }

  assert {
    condition = jsondecode(output.producer_policy_json).Statement == [
      {
        Sid      = "SendTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = "arn:aws:sqs:eu-west-1:111122223333:mock-queue"
      },
      {
        Sid      = "ManageTaskSchedules"
        Effect   = "Allow"
        Action   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"]
        Resource = "arn:aws:scheduler:eu-west-1:111122223333:schedule/orders/*"
      },
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
        Resource  = "arn:aws:iam::111122223333:role/mock-scheduler-role"
        Condition = { StringEquals = { "iam:PassedToService" = "scheduler.amazonaws.com" } }
      },
    ]
    error_message = "Producers may create, delete and read schedules of the group, list schedules, and pass the scheduler role to the Scheduler only."
  }

  assert {
    condition = alltrue([
      output.schedule_group_name == "orders",
      output.schedule_group_arn == "arn:aws:scheduler:eu-west-1:111122223333:schedule-group/mock-group",
      output.scheduler_role_arn == "arn:aws:iam::111122223333:role/mock-scheduler-role",
      output.scheduler_role_policy_json == aws_iam_role_policy.scheduler[0].policy,
      output.scheduler_assume_role_policy_json == aws_iam_role.scheduler[0].assume_role_policy,
      output.schedule_dead_letter_queue_arn == aws_sqs_queue.dead_letter_queue[0].arn,
      output.schedule_dead_letter_queue_url == aws_sqs_queue.dead_letter_queue[0].url,
      output.periodic_task_schedule_arns == {},
    ])
    error_message = "The outputs give producers what they schedule with: the group, the role and the (standard) dead-letter queue."
  }

  assert {
    condition     = length(aws_sqs_queue.schedule_dead_letter_queue) == 0 && length(aws_scheduler_schedule.periodic) == 0
    error_message = "A standard queue's schedules dead-letter into its own dead-letter queue; no periodic task by default."
  }
}

run "periodic_tasks" {
  variables {
    periodic_tasks = {
      nightly_report = {
        schedule    = "cron(0 3 * * ? *)"
        timezone    = "Europe/Berlin"
        task        = "report"
        payload     = { kind = "daily", note = "<b>&" }
        description = "The nightly report"
      }
      heartbeat = {
        schedule = "rate(5 minutes)"
        task     = "heartbeat"
        enabled  = false
      }
    }
  }

  assert {
    condition = alltrue([
      aws_scheduler_schedule.periodic["nightly_report"].group_name == "orders",
      aws_scheduler_schedule.periodic["nightly_report"].schedule_expression == "cron(0 3 * * ? *)",
      aws_scheduler_schedule.periodic["nightly_report"].schedule_expression_timezone == "Europe/Berlin",
      aws_scheduler_schedule.periodic["nightly_report"].state == "ENABLED",
      aws_scheduler_schedule.periodic["nightly_report"].description == "The nightly report",
      aws_scheduler_schedule.periodic["nightly_report"].flexible_time_window[0].mode == "OFF",
      aws_scheduler_schedule.periodic["heartbeat"].schedule_expression_timezone == "UTC",
      aws_scheduler_schedule.periodic["heartbeat"].state == "DISABLED",
    ])
    error_message = "Each periodic task is one schedule of the group: its expression, time zone (UTC by default), state and no flexible window."
  }

  assert {
    condition = alltrue([for schedule in aws_scheduler_schedule.periodic : alltrue([
      schedule.target[0].arn == "arn:aws:sqs:eu-west-1:111122223333:mock-queue",
      schedule.target[0].role_arn == "arn:aws:iam::111122223333:role/mock-scheduler-role",
      schedule.target[0].dead_letter_config[0].arn == "arn:aws:sqs:eu-west-1:111122223333:mock-dlq",
      schedule.target[0].retry_policy[0].maximum_event_age_in_seconds == 86400,
      schedule.target[0].retry_policy[0].maximum_retry_attempts == 185,
      length(schedule.target[0].sqs_parameters) == 0,
    ])])
    error_message = "Each schedule sends to the queue with the scheduler role, retries as the Scheduler's defaults, then dead-letters."
  }

  assert {
    # The payload's "<" (and ">" and "&") escaped: the Scheduler replaces only the run's time in the id.
    condition     = aws_scheduler_schedule.periodic["nightly_report"].target[0].input == "{\"task\":\"report\",\"payload\":{\"kind\":\"daily\",\"note\":\"\\u003cb\\u003e\\u0026\"},\"id\":\"nightly_report@<aws.scheduler.scheduled-time>\"}"
    error_message = "The input is the task message, its id the schedule's name and the run's time."
  }

  assert {
    condition     = jsondecode(aws_scheduler_schedule.periodic["heartbeat"].target[0].input) == { task = "heartbeat", payload = null, id = "heartbeat@<aws.scheduler.scheduled-time>" }
    error_message = "A periodic task without a payload sends null."
  }

  assert {
    condition     = keys(output.periodic_task_schedule_arns) == ["heartbeat", "nightly_report"]
    error_message = "The periodic tasks' schedule ARNs are outputs."
  }
}

run "fifo" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted      = "fifo"
    fifo_queue                  = true
    content_based_deduplication = true
    periodic_tasks = {
      settle = { schedule = "rate(1 hour)", task = "settle", group_id = "ledger" }
    }
  }

  assert {
    condition = alltrue([
      aws_sqs_queue.schedule_dead_letter_queue[0].name == "orders-schedule-dlq",
      aws_sqs_queue.schedule_dead_letter_queue[0].fifo_queue != true,
      aws_sqs_queue.schedule_dead_letter_queue[0].sqs_managed_sse_enabled == true,
      output.schedule_dead_letter_queue_arn == "arn:aws:sqs:eu-west-1:111122223333:mock-schedule-dlq",
      output.schedule_dead_letter_queue_url == "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-schedule-dlq",
    ])
    error_message = "A FIFO queue's schedules dead-letter into a standard, encrypted queue of their own (the Scheduler takes no FIFO one)."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.schedule_dead_letter_queue[0].policy).Statement == [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:eu-west-1:111122223333:mock-schedule-dlq"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
    error_message = "The schedules' dead-letter queue denies non-TLS access."
  }

  assert {
    condition = alltrue([
      aws_scheduler_schedule.periodic["settle"].target[0].sqs_parameters[0].message_group_id == "ledger",
      aws_scheduler_schedule.periodic["settle"].target[0].dead_letter_config[0].arn == "arn:aws:sqs:eu-west-1:111122223333:mock-schedule-dlq",
      contains(jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement, {
        Sid      = "SendScheduleDeadLetters"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = "arn:aws:sqs:eu-west-1:111122223333:mock-schedule-dlq"
      }),
      contains(keys(aws_cloudwatch_metric_alarm.this), "schedule_dead_letter_queue_not_empty"),
    ])
    error_message = "A FIFO periodic task sends to its message group and dead-letters into the standard queue, which the role may send to and an alarm watches."
  }
}

run "queue_key" {
  variables {
    kms_master_key_id = "arn:aws:kms:eu-west-1:111122223333:key/0000-queue"
  }

  assert {
    # The two sends are the "scheduling" run's; with a key, exactly these two statements follow them.
    condition = length(jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement) == 4 && slice(jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement, 2, 4) == [
      {
        Sid      = "EncryptQueueMessages"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = "arn:aws:kms:eu-west-1:111122223333:key/0000-queue"
        Condition = { StringEquals = {
          "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
          "kms:EncryptionContext:aws:sqs:arn" = ["arn:aws:sqs:eu-west-1:111122223333:mock-queue"]
        } }
      },
      {
        Sid      = "EncryptScheduleDeadLetters"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = "arn:aws:kms:eu-west-1:111122223333:key/0000-queue"
        Condition = { StringEquals = {
          "kms:ViaService"                    = "sqs.eu-west-1.amazonaws.com"
          "kms:EncryptionContext:aws:sqs:arn" = ["arn:aws:sqs:eu-west-1:111122223333:mock-dlq"]
        } }
      },
    ]
    error_message = "With a key, the scheduler role may use it through SQS for the queue and the dead-letter queue only."
  }
}

run "callers_role" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "callers_role"
    create_role            = false
    consumer_role_arn      = "arn:aws:iam::111122223333:role/platform/orders-consumer"
    worker_role_arn        = "arn:aws:iam::111122223333:role/platform/orders-worker"
    scheduler_role_arn     = "arn:aws:iam::111122223333:role/platform/orders-scheduler"
    periodic_tasks         = { hourly = { schedule = "rate(1 hour)", task = "tick" } }
  }

  assert {
    condition = alltrue([
      length(aws_iam_role.scheduler) == 0,
      length(aws_iam_role_policy.scheduler) == 0,
      aws_scheduler_schedule.periodic["hourly"].target[0].role_arn == "arn:aws:iam::111122223333:role/platform/orders-scheduler",
      output.scheduler_role_arn == "arn:aws:iam::111122223333:role/platform/orders-scheduler",
      jsondecode(output.producer_policy_json).Statement[3].Resource == "arn:aws:iam::111122223333:role/platform/orders-scheduler",
      jsondecode(output.scheduler_role_policy_json).Statement[0].Sid == "SendTasks",
      jsondecode(output.scheduler_assume_role_policy_json).Statement[0].Principal.Service == "scheduler.amazonaws.com",
    ])
    error_message = "With create_role = false the schedules send with the caller's role, whose policies are outputs."
  }
}

run "group_name_and_long_names" {
  variables {
    name                = "a-task-queue-name-longer-than-twenty-eight"
    schedule_group_name = "shared.schedules"
  }

  assert {
    condition = alltrue([
      aws_scheduler_schedule_group.this[0].name == "shared.schedules",
      # IAM adds 26 characters to a prefix, within its 64: "-scheduler-" leaves the name 27.
      aws_iam_role.scheduler[0].name_prefix == "a-task-queue-name-longer-th-scheduler-",
      length(aws_iam_role.scheduler[0].name_prefix) == 38,
      jsondecode(output.producer_policy_json).Statement[1].Resource == "arn:aws:scheduler:eu-west-1:111122223333:schedule/shared.schedules/*",
    ])
    error_message = "schedule_group_name names the group; a long name keeps the role's prefix within 38 characters."
  }
}

run "without_scheduling" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "without_scheduling"
    create_scheduling      = false
  }

  assert {
    condition = alltrue([
      length(aws_scheduler_schedule_group.this) == 0,
      length(aws_iam_role.scheduler) == 0,
      length(aws_sqs_queue.schedule_dead_letter_queue) == 0,
      output.schedule_group_name == null,
      output.scheduler_role_arn == null,
      output.schedule_dead_letter_queue_arn == null,
      length(jsondecode(output.producer_policy_json).Statement) == 1,
    ])
    error_message = "create_scheduling = false creates no group, role or queue, and the producer policy only sends."
  }
}
