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
