# Day-2 changes: what a change of the inputs replaces, and how.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "deployed" {}

# A new log group class replaces both log groups under their fixed names: the old one must go before
# the new one is created (a plain replacement), or CreateLogGroup fails with ResourceAlreadyExists.
run "log_group_replacement" {
  command = plan

  plan_options {
    replace = [aws_cloudwatch_log_group.worker[0], aws_cloudwatch_log_group.consumer[0]]
  }
}
