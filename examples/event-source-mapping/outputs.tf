output "queue_url" {
  description = "Where to send tasks."
  value       = module.task_queue.queue_url
}

output "dead_letter_queue_url" {
  description = "Where failed tasks end up, with the reason."
  value       = module.task_queue.dead_letter_queue_url
}

output "worker_function_name" {
  description = "The worker the event source mapping invokes."
  value       = module.task_queue.worker_function_name
}

output "event_source_mapping_uuid" {
  description = "The event source mapping."
  value       = module.task_queue.event_source_mapping_uuid
}

output "consumer_function_name" {
  description = "Null: there is no consumer in this mode."
  value       = module.task_queue.consumer_function_name
}

output "idempotency_table_name" {
  description = "The table that remembers which tasks ran."
  value       = module.task_queue.idempotency_table_name
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

output "status_table_name" {
  description = "Where each task's status is kept, with track_status ($TASKQUEUE_STATUS_TABLE; null when off)."
  value       = module.task_queue.status_table_name
}
