# Least privilege: each role may do what its function does, on the ARNs it does it on. The mock gives
# each role its own ARN (tests/mocks), so a role given to the wrong function fails here.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "roles" {
  assert {
    condition = alltrue([for role in [module.consumer[0].role, module.worker[0].role] : jsondecode(role.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]])
    error_message = "Only Lambda may assume the roles."
  }

  assert {
    # Name prefixes: the same name in another region, or another stack of this account, gets other roles.
    condition = alltrue([
      module.consumer[0].role.name_prefix == "orders-consumer-",
      module.worker[0].role.name_prefix == "orders-worker-",
    ])
    error_message = "The roles' names are prefixes, so that a second module call with the same name does not collide."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.role == "arn:aws:iam::111122223333:role/mock-consumer-role",
      module.worker[0].function.role == "arn:aws:iam::111122223333:role/mock-worker-role",
      module.consumer[0].role_policy.role == module.consumer[0].role.id,
      module.worker[0].role_policy.role == module.worker[0].role.id,
    ])
    error_message = "Each function runs with its own role, and each role holds its own function's policy: no swap."
  }

  assert {
    condition = jsondecode(module.consumer[0].role_policy.policy).Statement == [
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/orders-consumer:*"
      },
      {
        Sid    = "ConsumeQueue"
        Effect = "Allow"
        Action = [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueAttributes",
        ]
        Resource = aws_sqs_queue.this[0].arn
      },
      {
        Sid      = "InvokeWorker"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = "arn:aws:lambda:eu-west-1:111122223333:function:orders-worker"
      },
    ]
    error_message = "The consumer may write its logs, consume its queue and invoke its worker: nothing else."
  }

  assert {
    condition = jsondecode(module.worker[0].role_policy.policy).Statement == [
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/orders-worker:*"
      },
      {
        Sid      = "SendDeadLetters"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = aws_sqs_queue.dead_letter_queue[0].arn
      },
      {
        Sid      = "AttemptRecords"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        Resource = aws_dynamodb_table.idempotency[0].arn
      },
    ]
    error_message = "In schedule mode, the worker may write its logs, send to the dead-letter queue and keep its attempt counts: nothing else."
  }

  assert {
    condition = alltrue([
      length(aws_iam_role_policy.worker_tasks) == 0,
      length(aws_iam_role_policy_attachment.worker_tasks) == 0,
      length(module.worker[0].managed_policy_attachments) == 0,
      length(module.consumer[0].managed_policy_attachments) == 0,
    ])
    error_message = "No other policy by default."
  }

  assert {
    condition = alltrue(flatten([for policy in [module.consumer[0].role_policy.policy, module.worker[0].role_policy.policy] : [
      for statement in jsondecode(policy).Statement : !contains(flatten([statement.Resource]), "*")
    ]]))
    error_message = "No statement uses \"*\" as a resource."
  }

  assert {
    condition = alltrue([
      output.consumer_role_arn == "arn:aws:iam::111122223333:role/mock-consumer-role",
      output.consumer_role_name == "mock-consumer-role",
      output.worker_role_arn == "arn:aws:iam::111122223333:role/mock-worker-role",
      output.worker_role_name == "mock-worker-role",
      output.consumer_role_policy_json == module.consumer[0].role_policy.policy,
      output.worker_role_policy_json == module.worker[0].role_policy.policy,
    ])
    error_message = "The role outputs describe each function's own role and policy."
  }
}

run "exact_role_names" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "exact_role_names"
    name                   = "a-task-queue-name-longer-than-twenty-eight"
    role_use_name_prefix   = false
  }

  assert {
    condition = alltrue([
      module.consumer[0].role.name == "a-task-queue-name-longer-than-twenty-eight-consumer",
      module.worker[0].role.name == "a-task-queue-name-longer-than-twenty-eight-worker",
    ])
    error_message = "role_use_name_prefix = false keeps the exact names of earlier releases."
  }
}

run "long_name_prefixes" {
  variables {
    name = "a-task-queue-name-longer-than-twenty-eight"
  }

  assert {
    # IAM adds 26 characters to a prefix, within its 64: the prefix keeps 38, the name 28 of them.
    condition = alltrue([
      module.consumer[0].role.name_prefix == "a-task-queue-name-longer-tha-consumer-",
      module.worker[0].role.name_prefix == "a-task-queue-name-longer-tha-worker-",
    ])
    error_message = "A long name is cut so that the prefix stays within IAM's 38 characters."
  }
}

run "callers_roles" {
  variables {
    # A new queue, group or scheduler role than the run before: the loss of schedules is accepted.
    schedule_loss_accepted = "callers_roles"
    create_role            = false
    consumer_role_arn      = "arn:aws:iam::111122223333:role/platform/orders-consumer"
    worker_role_arn        = "arn:aws:iam::111122223333:role/platform/orders-worker"
    scheduler_role_arn     = "arn:aws:iam::111122223333:role/platform/orders-scheduler"
  }

  assert {
    condition = alltrue([
      module.consumer[0].role == null,
      module.worker[0].role == null,
      module.consumer[0].role_policy == null,
      module.worker[0].role_policy == null,
    ])
    error_message = "With create_role = false the module creates no role and attaches nothing."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.role == "arn:aws:iam::111122223333:role/platform/orders-consumer",
      module.worker[0].function.role == "arn:aws:iam::111122223333:role/platform/orders-worker",
      output.consumer_role_name == "orders-consumer",
      output.worker_role_name == "orders-worker",
    ])
    error_message = "Each function runs with the caller's role given for it."
  }

  assert {
    condition = alltrue([
      contains([for statement in jsondecode(output.consumer_role_policy_json).Statement : statement.Sid], "InvokeWorker"),
      contains([for statement in jsondecode(output.worker_role_policy_json).Statement : statement.Sid], "SendDeadLetters"),
    ])
    error_message = "The policies the caller's roles need are outputs."
  }
}

run "task_permissions" {
  variables {
    role_path                 = "/taskqueue/"
    role_permissions_boundary = "arn:aws:iam::111122223333:policy/boundary"
    role_tags                 = { Component = "roles" }
    worker_policy_arns = {
      reports = "arn:aws:iam::111122223333:policy/reports-read"
    }
    worker_policy_statements = {
      WriteArchive = {
        actions   = ["s3:PutObject"]
        resources = ["arn:aws:s3:::orders-archive/*"]
      }
      DenyOtherRegions = {
        effect    = "Deny"
        actions   = ["s3:*"]
        resources = ["arn:aws:s3:::orders-archive/*"]
        conditions = [
          { test = "StringNotEquals", variable = "aws:RequestedRegion", values = ["eu-west-1"] },
          { test = "Bool", variable = "aws:SecureTransport", values = ["false"] },
        ]
      }
    }
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.worker_tasks[0].policy).Statement == [
      {
        Sid      = "DenyOtherRegions"
        Effect   = "Deny"
        Action   = ["s3:*"]
        Resource = ["arn:aws:s3:::orders-archive/*"]
        Condition = {
          StringNotEquals = { "aws:RequestedRegion" = ["eu-west-1"] }
          Bool            = { "aws:SecureTransport" = ["false"] }
        }
      },
      {
        Sid      = "WriteArchive"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = ["arn:aws:s3:::orders-archive/*"]
      },
    ]
    error_message = "worker_policy_statements become the worker's tasks policy."
  }

  assert {
    condition = alltrue([
      aws_iam_role_policy.worker_tasks[0].role == module.worker[0].role.id,
      aws_iam_role_policy_attachment.worker_tasks["reports"].role == module.worker[0].role.name,
      aws_iam_role_policy_attachment.worker_tasks["reports"].policy_arn == "arn:aws:iam::111122223333:policy/reports-read",
    ])
    error_message = "Task permissions go to the worker's role only."
  }

  assert {
    condition = alltrue([for role in [module.consumer[0].role, module.worker[0].role] : alltrue([
      role.path == "/taskqueue/",
      role.permissions_boundary == "arn:aws:iam::111122223333:policy/boundary",
      role.tags == tomap({ Component = "roles" }),
    ])])
    error_message = "Path, permissions boundary and tags apply to both roles."
  }
}
