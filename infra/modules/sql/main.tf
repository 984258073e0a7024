# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Cloud SQL for PostgreSQL 15, reached only through the Cloud SQL Python connector:
# a public IP with NO authorized networks and ssl_mode TRUSTED_CLIENT_CERTIFICATE_REQUIRED
# means nothing but the connector (ephemeral client certificates issued to an IAM principal
# holding roles/cloudsql.client) can open a connection. Runtime identities log in as IAM
# database users (cloudsql.iam_authentication), so no runtime needs a password.
# Backups with point-in-time recovery are always on. See docs/decisions/0071.

resource "google_sql_database_instance" "this" {
  #checkov:skip=CKV_GCP_60:The public IP has no authorized networks and requires trusted client certificates, so only the Cloud SQL connector (IAM-authorised mTLS) can connect; private IP needs a VPC connector per function (docs/decisions/0071).
  #checkov:skip=CKV2_GCP_20:Postgres pgaudit is not enabled; log_statement=ddl and connection logging cover schema changes and logins at this scale (docs/decisions/0071).
  #checkov:skip=CKV_GCP_110:pgaudit is not enabled (same reason as CKV2_GCP_20).
  #checkov:skip=CKV2_GCP_13:log_duration=on logs the duration of every statement, which floods logs from a per-minute poller; Query Insights records latency instead.
  #checkov:skip=CKV_GCP_79:The schema and the test suite run on Postgres 15 (the version the local stack runs); a major upgrade is a deliberate, tested change.
  project             = var.project_id
  region              = var.region
  name                = var.instance_name
  database_version    = var.database_version
  deletion_protection = var.deletion_protection

  settings {
    tier                        = var.tier
    edition                     = "ENTERPRISE"
    availability_type           = var.availability_type
    disk_type                   = "PD_SSD"
    disk_size                   = var.disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = var.labels

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = var.backup_start_time
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = var.retained_backups
        retention_unit   = "COUNT"
      }
    }

    ip_configuration {
      ipv4_enabled = true
      ssl_mode     = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    # Login, lock-wait, checkpoint and DDL logging; errors and above only (checkov CKV_GCP_51-57, 108-111).
    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }

    database_flags {
      name  = "max_connections"
      value = tostring(var.max_connections)
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }

    database_flags {
      name  = "log_connections"
      value = "on"
    }

    database_flags {
      name  = "log_disconnections"
      value = "on"
    }

    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }

    database_flags {
      name  = "log_hostname"
      value = "on"
    }

    database_flags {
      name  = "log_min_messages"
      value = "error"
    }

    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }

    database_flags {
      name  = "log_temp_files"
      value = "0"
    }

    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    dynamic "database_flags" {
      for_each = var.extra_database_flags
      content {
        name  = database_flags.key
        value = database_flags.value
      }
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    maintenance_window {
      day          = 7
      hour         = 4
      update_track = "stable"
    }
  }
}

resource "google_sql_database" "app" {
  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = var.database_name
}

# One IAM database user per runtime service account that touches the database. Postgres
# user names of service accounts drop the ".gserviceaccount.com" suffix.
resource "google_sql_user" "iam_service_account" {
  for_each = var.iam_service_accounts

  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = trimsuffix(each.value, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}
