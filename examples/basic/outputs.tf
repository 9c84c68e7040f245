output "queue_url" {
  description = "Where to send tasks."
  value       = module.task_queue.queue_url
}

output "dead_letter_queue_url" {
  description = "Where failed tasks end up, with the reason."
  value       = module.task_queue.dead_letter_queue_url
}

output "consumer_function_name" {
  description = "The scheduled consumer."
  value       = module.task_queue.consumer_function_name
}

output "worker_function_name" {
  description = "The worker that runs the tasks."
  value       = module.task_queue.worker_function_name
}

output "producer_policy_json" {
  description = "Attach to the roles that send tasks."
  value       = module.task_queue.producer_policy_json
}

output "schedule_group_name" {
  description = "Where producers schedule tasks due later than SQS can delay them ($TASKQUEUE_SCHEDULE_GROUP)."
  value       = module.task_queue.schedule_group_name
}

output "scheduler_role_arn" {
  description = "The role those schedules send with ($TASKQUEUE_SCHEDULER_ROLE_ARN)."
  value       = module.task_queue.scheduler_role_arn
}

output "schedule_dead_letter_queue_arn" {
  description = "Where a schedule's undeliverable task ends up ($TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN)."
  value       = module.task_queue.schedule_dead_letter_queue_arn
}

output "module_version" {
  description = "The module's release."
  value       = module.task_queue.version
}

output "status_table_name" {
  description = "Where each task's status is kept, with track_status ($TASKQUEUE_STATUS_TABLE; null when off)."
  value       = module.task_queue.status_table_name
}
