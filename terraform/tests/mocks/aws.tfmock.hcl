# Shared by the test files (mock_provider "aws" { source = "./tests/mocks" }). The provider still
# validates ARNs under a mock, so computed ARNs get well-formed values; the ones tests compare get
# distinct values per resource.

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::111122223333:role/mock"
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

override_resource {
  target = aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:111122223333:mock-queue"
    id  = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-queue"
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/mock-queue"
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
  target = aws_lambda_function.worker
  values = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:mock-worker"
  }
}

override_resource {
  target = aws_lambda_function.consumer
  values = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:mock-consumer"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.worker
  values = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/mock-worker"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.consumer
  values = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/mock-consumer"
  }
}
