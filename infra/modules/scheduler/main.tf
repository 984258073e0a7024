# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# A Cloud Scheduler job that publishes a fixed message to a Pub/Sub topic. Pub/Sub targets
# need no OIDC identity (Cloud Scheduler's service agent publishes); the consumer dedups on
# the Pub/Sub message id and drops ticks older than its max age, so a retried or late tick
# never turns into a burst of work.

resource "google_cloud_scheduler_job" "this" {
  project     = var.project_id
  region      = var.region
  name        = var.name
  description = var.description
  schedule    = var.schedule
  time_zone   = var.time_zone
  paused      = var.paused

  retry_config {
    retry_count          = var.retry_count
    max_retry_duration   = var.max_retry_duration
    min_backoff_duration = var.min_backoff_duration
    max_backoff_duration = var.max_backoff_duration
    max_doublings        = var.max_doublings
  }

  pubsub_target {
    topic_name = var.topic_id
    data       = base64encode(var.message_json)
    attributes = var.attributes
  }
}
