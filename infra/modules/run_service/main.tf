# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# A Cloud Run (v2) service with its own runtime service account. Used for the streamer,
# which holds every account's Kalshi WebSocket, so its caller pins min = max = 1,
# cpu_idle = false (the upstream readers and Pub/Sub pulls run outside requests) and the
# 3600 s maximum request timeout (SSE clients reconnect with Last-Event-ID after it).

resource "google_service_account" "runtime" {
  count = var.service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = coalesce(var.service_account_id, "run-${var.name}")
  display_name = "Runtime identity of Cloud Run service ${var.name}"
  description  = "Used only by the ${var.name} service; roles are granted per resource."
}

locals {
  runtime_email = var.service_account_email != null ? var.service_account_email : google_service_account.runtime[0].email
}

resource "google_project_iam_member" "runtime" {
  for_each = var.project_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${local.runtime_email}"
}

resource "google_cloud_run_v2_service" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  description         = var.description
  labels              = merge(var.labels, { service = var.name })
  ingress             = var.ingress
  deletion_protection = var.deletion_protection

  template {
    service_account                  = local.runtime_email
    timeout                          = var.timeout
    session_affinity                 = var.session_affinity
    max_instance_request_concurrency = var.max_instance_request_concurrency
    labels                           = merge(var.labels, { service = var.name })

    scaling {
      min_instance_count = var.min_instance_count
      max_instance_count = var.max_instance_count
    }

    containers {
      image = var.image

      resources {
        cpu_idle          = var.cpu_idle
        startup_cpu_boost = true
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
      }

      dynamic "env" {
        for_each = var.environment_variables
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_environment_variables
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      dynamic "startup_probe" {
        for_each = var.health_path == null ? [] : [var.health_path]
        content {
          period_seconds    = 5
          failure_threshold = 12
          http_get {
            path = startup_probe.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_instance_count <= var.max_instance_count
      error_message = "min_instance_count must not exceed max_instance_count."
    }
    precondition {
      condition     = !(var.allow_unauthenticated && var.ingress == "INGRESS_TRAFFIC_ALL")
      error_message = "An unauthenticated service must only accept internal and load-balancer traffic."
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invoker_members

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# Behind the HTTPS load balancer (serverless NEGs carry no identity); ingress is limited to
# internal + load balancer by the precondition above, and the app authenticates users (JWT).
resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.allow_unauthenticated ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
