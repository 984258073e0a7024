# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "bucket_name" {
  description = "Name of the archive bucket."
  value       = google_storage_bucket.archive.name
}

output "archive_url" {
  description = "The value of HISTORY_ARCHIVE_URL: gs://<bucket>."
  value       = "gs://${google_storage_bucket.archive.name}"
}

output "external_table" {
  description = "project.dataset.table of the BigQuery external table over the archive."
  value       = "${var.project_id}.${google_bigquery_dataset.history.dataset_id}.${google_bigquery_table.market_snapshots.table_id}"
}
