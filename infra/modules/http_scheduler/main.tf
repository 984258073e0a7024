# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# A Cloud Scheduler job that POSTs a fixed JSON body to an HTTPS endpoint with a Google OIDC
# token of one service account. The receiver verifies the token's audience and e-mail itself
# (the account function's day-boundary job: shared/account/jobs.py) and is idempotent per
# run, so a retried delivery changes nothing.

resource "google_cloud_scheduler_job" "this" {
  project          = var.project_id
  region           = var.region
  name             = var.name
  description      = var.description
  schedule         = var.schedule
  time_zone        = var.time_zone
  paused           = var.paused
  attempt_deadline = var.attempt_deadline

  retry_config {
    retry_count          = var.retry_count
    max_retry_duration   = var.max_retry_duration
    min_backoff_duration = var.min_backoff_duration
    max_backoff_duration = var.max_backoff_duration
    max_doublings        = var.max_doublings
  }

  http_target {
    uri         = var.uri
    http_method = "POST"
    body        = base64encode(var.body_json)
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = var.oidc_service_account_email
      audience              = var.audience
    }
  }
}
