# create = false creates no AWS resource, as the `create` input of terraform-aws-modules does (the schedules' guard, state only, stays: lifecycle.tftest.hcl).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "nothing" {
  variables {
    create           = false
    name             = "orders"
    consumer_package = { filename = "tests/fixtures/placeholder.zip" }
    worker_package   = { filename = "tests/fixtures/placeholder.zip" }
    create_dashboard = true
  }

  assert {
    condition = alltrue([
      length(aws_sqs_queue.this) == 0,
      length(aws_sqs_queue.dead_letter_queue) == 0,
      length(aws_sqs_queue_policy.this) == 0,
      length(module.worker) == 0,
      length(module.consumer) == 0,
      length(terraform_data.worker_settings) == 0,
      length(terraform_data.consumer_settings) == 0,
      length(aws_cloudwatch_event_rule.consumer_trigger) == 0,
      length(aws_cloudwatch_metric_alarm.this) == 0,
      length(aws_cloudwatch_dashboard.this) == 0,
      length(data.aws_partition.current) == 0,
    ])
    error_message = "create = false creates nothing."
  }

  assert {
    condition = alltrue([
      output.queue_url == null,
      output.worker_function_arn == null,
      output.worker_role_arn == null,
      output.producer_policy_json == null,
      output.alarm_arns == {},
    ])
    error_message = "Its outputs are null."
  }
}

# Nothing is built with create = false, so no package is needed, nor a file that exists.
run "nothing_without_packages" {
  command = plan

  variables {
    create = false
    name   = "orders"
  }
}

run "nothing_with_packages_not_built" {
  command = plan

  variables {
    create           = false
    name             = "orders"
    consumer_package = { filename = "tests/fixtures/missing.zip" }
    worker_package   = { filename = "tests/fixtures/missing.zip" }
  }
}

run "worker_package_needed_to_create" {
  command = plan

  variables {
    name             = "orders"
    consumer_package = { filename = "tests/fixtures/placeholder.zip" }
    # The runs before created nothing: scheduling is new here.
    schedule_loss_accepted = "created"
  }

  expect_failures = [terraform_data.worker_settings]
}
