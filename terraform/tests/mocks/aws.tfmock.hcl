# Shared by the test files (mock_provider "aws" { source = "./tests/mocks" }).
#
# The provider still validates ARNs under a mock, so computed ARNs get well-formed values, and every
# ARN a test compares is distinct per resource: a role, queue or function swapped for another one
# fails an assertion instead of comparing equal mock values.
#
# What an assertion on an argument reads depends on the argument's schema:
# - Optional, not computed (max_message_size, maximum_batching_window_in_seconds, publish, ...): the
#   planned value is exactly what the module passes, null included. The real provider would fill in
#   its default; the mock does not, so `== null` there asserts that the module passed none.
# - Optional and computed (sqs_managed_sse_enabled, log_group_class, ...): where the module passes
#   null the mock makes a value up. Those get a sentinel here: an assertion that sees the sentinel
#   knows the module passed null, and none depends on what the mock would have made up.

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:eu-west-1:111122223333:rule/mock-schedule"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn = "arn:aws:dynamodb:eu-west-1:111122223333:table/mock-idempotency"
  }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = {
    arn = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:mock"
  }
}

mock_resource "aws_lambda_event_source_mapping" {
  defaults = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:event-source-mapping:mock-esm"
  }
}

override_resource {
  target = module.consumer[0].aws_iam_role.this
  values = {
    arn  = "arn:aws:iam::111122223333:role/mock-consumer-role"
    name = "mock-consumer-role"
  }
}

override_resource {
  target = module.worker[0].aws_iam_role.this
  values = {
    arn  = "arn:aws:iam::111122223333:role/mock-worker-role"
    name = "mock-worker-role"
  }
}

override_resource {
  target = aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:mock-queue"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-queue"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-queue"
  }
}

override_resource {
  target = aws_sqs_queue.priority
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:mock-priority-queue"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-priority-queue"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-priority-queue"
  }
}

override_resource {
  target = aws_sqs_queue.dead_letter_queue
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:mock-dlq"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-dlq"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-dlq"
  }
}

override_resource {
  target = module.worker[0].aws_lambda_function.this
  values = {
    arn           = "arn:aws:lambda:eu-west-1:111122223333:function:mock-worker"
    qualified_arn = "arn:aws:lambda:eu-west-1:111122223333:function:mock-worker:$LATEST"
    version       = "$LATEST"
  }
}

override_resource {
  target = module.consumer[0].aws_lambda_function.this
  values = {
    arn           = "arn:aws:lambda:eu-west-1:111122223333:function:mock-consumer"
    qualified_arn = "arn:aws:lambda:eu-west-1:111122223333:function:mock-consumer:$LATEST"
    version       = "$LATEST"
  }
}

override_resource {
  target = module.worker[0].aws_cloudwatch_log_group.this
  values = {
    arn             = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/mock-worker"
    log_group_class = "SENTINEL"
  }
}

override_resource {
  target = module.consumer[0].aws_cloudwatch_log_group.this
  values = {
    arn             = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/mock-consumer"
    log_group_class = "SENTINEL"
  }
}

override_resource {
  target = aws_cloudwatch_dashboard.this
  values = {
    dashboard_arn = "arn:aws:cloudwatch::111122223333:dashboard/mock"
  }
}

override_resource {
  target = aws_scheduler_schedule_group.this
  values = {
    arn = "arn:aws:scheduler:eu-west-1:111122223333:schedule-group/mock-group"
  }
}

mock_resource "aws_scheduler_schedule" {
  defaults = {
    arn = "arn:aws:scheduler:eu-west-1:111122223333:schedule/mock-group/mock-schedule"
  }
}

override_resource {
  target = aws_iam_role.scheduler
  values = {
    arn  = "arn:aws:iam::111122223333:role/mock-scheduler-role"
    name = "mock-scheduler-role"
  }
}

override_resource {
  target = aws_sqs_queue.schedule_dead_letter_queue
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:mock-schedule-dlq"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-schedule-dlq"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-schedule-dlq"
  }
}
