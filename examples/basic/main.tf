# A standard queue whose consumer runs every minute: the module with its defaults.

provider "aws" {
  region = var.region
}

locals {
  dist_dir = coalesce(var.dist_dir, "${path.root}/../../dist")
}

module "task_queue" {
  source = "../../terraform"

  name = "taskqueue-basic"

  consumer_package = { filename = "${local.dist_dir}/consumer.zip" }
  worker_package   = { filename = "${local.dist_dir}/worker.zip" }

  tags = {
    Example = "basic"
  }
}
