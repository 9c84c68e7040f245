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
    replace = [module.worker[0].aws_cloudwatch_log_group.this, module.consumer[0].aws_cloudwatch_log_group.this]
  }
}

# Producers' one-time schedules live in the schedule group, send to the queue and with the scheduler
# role: a change that deletes the group (DeleteScheduleGroup deletes every schedule in it), replaces the
# role (each schedule holds its ARN) or renames the queue (each schedule holds its ARN) fails the plan
# unless a new schedule_loss_accepted says the caller accepts the loss.
run "schedule_group_renamed" {
  command = plan
  variables {
    schedule_group_name = "orders-renamed"
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "scheduling_turned_off" {
  command = plan
  variables {
    create_scheduling = false
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "module_turned_off" {
  command = plan
  variables {
    create = false
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "scheduler_role_path_changed" {
  command = plan
  variables {
    role_path = "/taskqueue/"
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "scheduler_role_name_exact" {
  command = plan
  variables {
    role_use_name_prefix = false
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "scheduler_role_brought_by_the_caller" {
  command = plan
  variables {
    create_role        = false
    consumer_role_arn  = "arn:aws:iam::111122223333:role/own-consumer"
    worker_role_arn    = "arn:aws:iam::111122223333:role/own-worker"
    scheduler_role_arn = "arn:aws:iam::111122223333:role/own-scheduler"
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "queue_renamed" {
  command = plan
  variables {
    queue_name = "orders-renamed"
  }
  expect_failures = [terraform_data.schedules_guard]
}

# Changes that keep the group, the role and the queue pass.
run "unrelated_change" {
  command = plan
  variables {
    worker_memory_size = 1024
  }
}

# With a new schedule_loss_accepted the caller accepts the loss: the plan goes through, and the guard records
# what is there after the apply...
run "rename_accepted" {
  variables {
    schedule_group_name    = "orders-renamed"
    schedule_loss_accepted = "2026-12-06"
  }
  assert {
    condition     = aws_scheduler_schedule_group.this[0].name == "orders-renamed"
    error_message = "A new schedule_loss_accepted lets the group be renamed."
  }
}

# ... so that the renamed group is the one guarded while the value stays (any change of it, removing it
# included, accepts the loss again).
run "renamed_group_guarded" {
  command = plan
  variables {
    schedule_group_name    = "orders"
    schedule_loss_accepted = "2026-12-06"
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "renamed_group_kept" {
  command = plan
  variables {
    schedule_group_name    = "orders-renamed"
    schedule_loss_accepted = "2026-12-06"
  }
}
