# No consumer: Lambda polls the queue and invokes the worker, which reports the records that failed
# and sets their retry backoff itself.

provider "aws" {
  region = var.region
}

locals {
  dist_dir = coalesce(var.dist_dir, "${path.root}/../../dist")
}

module "task_queue" {
  source = "../../terraform"

  name         = "taskqueue-esm"
  trigger_mode = "event_source_mapping"

  # Only the worker is deployed in this mode.
  worker_package = { filename = "${local.dist_dir}/worker.zip" }
  worker_timeout = 60

  # Up to 10 messages per invocation, at most 20 invocations at once.
  event_source_mapping_batch_size          = 10
  event_source_mapping_maximum_concurrency = 20

  # Run each task once, even if SQS delivers its message twice.
  create_idempotency_table = true

  tags = {
    Example = "event-source-mapping"
  }
}
