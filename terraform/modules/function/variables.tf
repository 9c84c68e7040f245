variable "function_name" {
  description = "Name of the function; its log group is /aws/lambda/<function_name>, and its role, unless prefixed, has the same name."
  type        = string
}

variable "description" {
  description = "Description of the function."
  type        = string
}

variable "handler" {
  description = "The function's handler, such as taskqueue.worker.handler."
  type        = string
}

variable "package" {
  description = "The deployment package: a local filename or an S3 object, and its hash (null: Lambda's key or version decides)."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
}

variable "memory_size" {
  description = "Memory, in MB."
  type        = number
}

variable "timeout" {
  description = "Timeout, in seconds."
  type        = number
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency (null: none reserved)."
  type        = number
}

variable "environment" {
  description = "The function's whole environment: the calling module's variables and the caller's extra ones."
  type        = map(string)
}

variable "role" {
  description = "The function's role: created here (create, with its name prefix or the function's name, its inline policy and managed policies) or the caller's (arn)."
  type = object({
    create               = bool
    arn                  = optional(string)
    name_prefix          = optional(string)
    path                 = optional(string)
    permissions_boundary = optional(string)
    assume_role_policy   = optional(string)
    policy_name          = optional(string)
    policy_json          = optional(string)
    managed_policy_arns  = optional(map(string), {})
    tags                 = optional(map(string), {})
  })
}

variable "settings" {
  description = "What the task queue's functions share: runtime, architectures, publishing, Lambda's logging configuration (levels null with the Text format), tracing, VPC (null: none), the function's tags and its log group's settings."
  type = object({
    runtime       = string
    architectures = list(string)
    publish       = bool
    logging = object({
      log_format            = string
      application_log_level = optional(string)
      system_log_level      = optional(string)
    })
    tracing_mode = string
    vpc = optional(object({
      subnet_ids         = list(string)
      security_group_ids = list(string)
    }))
    tags = map(string)
    log_group = object({
      retention_in_days = number
      kms_key_id        = optional(string)
      log_group_class   = optional(string)
      tags              = map(string)
    })
  })
}
