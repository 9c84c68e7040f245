output "queue_url" {
  description = "Where to send tasks, each with a MessageGroupId."
  value       = module.task_queue.queue_url
}

output "queue_name" {
  description = "The queue's name, ending in .fifo."
  value       = module.task_queue.queue_name
}

output "dead_letter_queue_url" {
  description = "Where failed tasks end up, with the reason."
  value       = module.task_queue.dead_letter_queue_url
}

output "producer_policy_json" {
  description = "Attach to the roles that send tasks."
  value       = module.task_queue.producer_policy_json
}
