# Least privilege: each role may do what its function does, on the ARNs it does it on.

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
    condition = alltrue([for role in [aws_iam_role.consumer[0], aws_iam_role.worker] : jsondecode(role.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]])
    error_message = "Only Lambda may assume the roles."
  }

  assert {
    condition     = aws_iam_role.consumer[0].name == "orders-consumer" && aws_iam_role.worker.name == "orders-worker"
    error_message = "One role per function, named after it."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.consumer[0].policy).Statement == [
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.consumer[0].arn}:*"
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
        Resource = aws_sqs_queue.this.arn
      },
      {
        Sid      = "InvokeWorker"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = aws_lambda_function.worker.arn
      },
    ]
    error_message = "The consumer may write its logs, consume its queue and invoke its worker: nothing else."
  }

  assert {
    condition     = aws_iam_role_policy.consumer[0].role == aws_iam_role.consumer[0].id && aws_iam_role_policy.worker.role == aws_iam_role.worker.id
    error_message = "Each policy belongs to its function's role."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.worker.policy).Statement == [
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.worker.arn}:*"
      },
      {
        Sid      = "SendDeadLetters"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = aws_sqs_queue.dead_letter_queue.arn
      },
    ]
    error_message = "In schedule mode, the worker may write its logs and send to the dead-letter queue: nothing else."
  }

  assert {
    condition = alltrue([
      length(aws_iam_role_policy.worker_tasks) == 0,
      length(aws_iam_role_policy_attachment.worker_tasks) == 0,
      length(aws_iam_role_policy_attachment.worker_managed) == 0,
      length(aws_iam_role_policy_attachment.consumer_managed) == 0,
    ])
    error_message = "No other policy by default."
  }

  assert {
    condition = alltrue(flatten([for policy in [aws_iam_role_policy.consumer[0].policy, aws_iam_role_policy.worker.policy] : [
      for statement in jsondecode(policy).Statement : !contains(flatten([statement.Resource]), "*")
    ]]))
    error_message = "No statement uses \"*\" as a resource."
  }
}

run "task_permissions" {
  variables {
    role_path                 = "/taskqueue/"
    role_permissions_boundary = "arn:aws:iam::111122223333:policy/boundary"
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
      aws_iam_role_policy.worker_tasks[0].role == aws_iam_role.worker.id,
      aws_iam_role_policy_attachment.worker_tasks["reports"].role == aws_iam_role.worker.name,
      aws_iam_role_policy_attachment.worker_tasks["reports"].policy_arn == "arn:aws:iam::111122223333:policy/reports-read",
    ])
    error_message = "Task permissions go to the worker's role only."
  }

  assert {
    condition = alltrue([for role in [aws_iam_role.consumer[0], aws_iam_role.worker] : alltrue([
      role.path == "/taskqueue/",
      role.permissions_boundary == "arn:aws:iam::111122223333:policy/boundary",
    ])])
    error_message = "Path and permissions boundary apply to both roles."
  }
}
