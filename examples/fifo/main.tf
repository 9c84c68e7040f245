# A FIFO queue: tasks of one message group run in order, one at a time; groups run in parallel.

provider "aws" {
  region = var.region
}

locals {
  dist_dir = coalesce(var.dist_dir, "${path.root}/../../dist")
}

module "task_queue" {
  source = "../../terraform"

  name = "taskqueue-fifo"

  # The queue is named taskqueue-fifo.fifo, its dead-letter queue taskqueue-fifo-dlq.fifo.
  fifo_queue                  = true
  content_based_deduplication = true
  # High-throughput FIFO: deduplication and the throughput quota per message group.
  deduplication_scope   = "messageGroup"
  fifo_throughput_limit = "perMessageGroupId"

  consumer_package = { filename = "${local.dist_dir}/consumer.zip" }
  worker_package   = { filename = "${local.dist_dir}/worker.zip" }

  # Keep draining until the consumer's time is nearly up, 8 batches at a time.
  consumer_mode            = "continuous"
  consumer_max_concurrency = 8

  tags = {
    Example = "fifo"
  }
}
