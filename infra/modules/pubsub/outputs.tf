# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "topic_id" {
  description = "Full topic id, projects/P/topics/T."
  value       = google_pubsub_topic.main.id
}

output "topic_name" {
  description = "Short topic name."
  value       = google_pubsub_topic.main.name
}

output "dead_letter_topic_id" {
  description = "Full id of the dead-letter topic."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription_name" {
  description = "The pull subscription that keeps dead letters."
  value       = google_pubsub_subscription.dead_letter.name
}

output "push_subscription_names" {
  description = "Push subscription names by key."
  value       = { for k, s in google_pubsub_subscription.push : k => s.name }
}

output "pull_subscription_names" {
  description = "Pull subscription names by key."
  value       = { for k, s in google_pubsub_subscription.pull : k => s.name }
}
