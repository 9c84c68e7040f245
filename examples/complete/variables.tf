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

variable "producer_account_ids" {
  description = "Other accounts whose principals may send tasks (they also need the queue key's permission, granted below, and an IAM policy of their own). The default is AWS's documentation example account: replace it with yours."
  type        = list(string)
  default     = ["111122223333"]
}

variable "vpc_cidr" {
  description = "Address range of the example's VPC."
  type        = string
  default     = "10.42.0.0/16"
}
