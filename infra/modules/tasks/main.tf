# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# A Cloud Tasks queue plus the identity its tasks carry. Enqueuers (the backtests function)
# get cloudtasks.enqueuer on this queue only and actAs on the invoker account only; the
# target function grants run.invoker to that invoker account and to nobody else.

resource "google_cloud_tasks_queue" "this" {
  project  = var.project_id
  location = var.region
  name     = var.name

  rate_limits {
    max_dispatches_per_second = var.max_dispatches_per_second
    max_concurrent_dispatches = var.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = var.max_attempts
    max_retry_duration = var.max_retry_duration
    min_backoff        = var.min_backoff
    max_backoff        = var.max_backoff
    max_doublings      = var.max_doublings
  }

  stackdriver_logging_config {
    sampling_ratio = var.logging_sampling_ratio
  }
}

# The identity in each task's OIDC token (same project as the queue, as Cloud Tasks requires).
resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = coalesce(var.invoker_account_id, "tasks-${var.name}")
  display_name = "OIDC identity of tasks in queue ${var.name}"
  description  = "Carried by tasks of the ${var.name} queue; may only invoke the queue's target."
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = var.enqueuer_members

  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.this.name
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

# Creating a task with an OIDC token for the invoker account requires actAs on it.
resource "google_service_account_iam_member" "enqueuer_act_as" {
  for_each = var.enqueuer_members

  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}
