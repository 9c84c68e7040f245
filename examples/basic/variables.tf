variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "dist_dir" {
  description = "Directory holding consumer.zip and worker.zip from `make build`. Defaults to this repository's dist/."
  type        = string
  default     = null
}
