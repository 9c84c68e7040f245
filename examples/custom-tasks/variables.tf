variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "dist_dir" {
  description = "Directory holding consumer.zip from `make build`. Defaults to this repository's dist/."
  type        = string
  default     = null
}

variable "tasks_dist_dir" {
  description = "Directory holding the worker.zip built with this example's tasks. Defaults to dist/ in this example."
  type        = string
  default     = null
}

variable "reports_bucket" {
  description = "Existing S3 bucket the report tasks write to."
  type        = string
  default     = "my-platform-reports"
}
