# Scheduling turned on in a deployment that had none: there is nothing to lose yet, and the guard of
# the schedules (lifecycle.tftest.hcl) records the new group and role with one apply that allows it.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name              = "orders"
  consumer_package  = { filename = "tests/fixtures/placeholder.zip" }
  worker_package    = { filename = "tests/fixtures/placeholder.zip" }
  create_scheduling = false
}

run "without_scheduling" {}

run "scheduling_turned_on" {
  command = plan
  variables {
    create_scheduling = true
  }
  expect_failures = [terraform_data.schedules_guard]
}

run "scheduling_turned_on_and_recorded" {
  variables {
    create_scheduling      = true
    schedule_loss_accepted = "2026-12-06"
  }
}

run "recorded_group_guarded" {
  command = plan
  variables {
    create_scheduling      = false
    schedule_loss_accepted = "2026-12-06"
  }
  expect_failures = [terraform_data.schedules_guard]
}
