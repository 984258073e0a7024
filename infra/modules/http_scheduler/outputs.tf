# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "job_id" {
  description = "Full job id."
  value       = google_cloud_scheduler_job.this.id
}
