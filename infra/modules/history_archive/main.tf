# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# The snapshot archive (docs/decisions/0174): one Parquet file set per archived day under
# snapshots/day=YYYY-MM-DD/, written and verified by the poller's maintenance round before
# Postgres drops the day's partition. Nothing is ever deleted by the lifecycle: the files
# are the only copy of old raw snapshots, so they only move to colder storage classes.
# BigQuery reads the same files through an external table (docs/scaling.md has the
# queries and the point where history reads move there).

resource "google_storage_bucket" "archive" {
  #checkov:skip=CKV_GCP_62:Only the poller writes and the worker reads; Cloud Audit Logs record both, a second log bucket adds nothing.
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.region
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  # A re-archived day overwrites its file set; the previous generation stays recoverable.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.nearline_after_days
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age = var.archive_class_after_days
    }
    action {
      type          = "SetStorageClass"
      storage_class = "ARCHIVE"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "writers" {
  for_each = var.writer_members
  bucket   = google_storage_bucket.archive.name
  role     = "roles/storage.objectAdmin"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "readers" {
  for_each = var.reader_members
  bucket   = google_storage_bucket.archive.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

resource "google_bigquery_dataset" "history" {
  #checkov:skip=CKV_GCP_81:The dataset holds only an external table; its data is the bucket's, encrypted by Google-managed keys like the bucket.
  project    = var.project_id
  dataset_id = var.dataset_id
  location   = var.region
  labels     = var.labels

  description = "Archived market snapshots (external tables over the Parquet archive)."
}

# market_snapshots beyond Postgres's retention window, read in place. Hive partitioning on
# the day=YYYY-MM-DD directory lets a WHERE on `day` read only those days' files.
resource "google_bigquery_table" "market_snapshots" {
  #checkov:skip=CKV_GCP_80:An external table stores no data of its own to encrypt.
  project    = var.project_id
  dataset_id = google_bigquery_dataset.history.dataset_id
  table_id   = "market_snapshots"
  labels     = var.labels
  # Dropping the table loses no data (the files stay), but it is the one cut-over path.
  deletion_protection = true

  external_data_configuration {
    source_format = "PARQUET"
    autodetect    = true
    source_uris   = ["gs://${google_storage_bucket.archive.name}/snapshots/*"]

    hive_partitioning_options {
      mode                     = "CUSTOM"
      source_uri_prefix        = "gs://${google_storage_bucket.archive.name}/snapshots/{day:DATE}"
      require_partition_filter = true
    }
  }
}
