# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# One Cloud Functions (gen2, Python) deployable with its own runtime service account.
# The source is the zip that devstack/package_functions.py assembles (main.py + shared/ +
# pinned requirements.txt); the object is named by the zip's SHA-256, so a function is
# redeployed exactly when its source changed (no timestamp() churn).
# No event_trigger: Pub/Sub consumers are fed by push subscriptions we own
# (docs/decisions/0040), so every function here is an HTTP-served Cloud Run service.

locals {
  function_name = replace(var.name, "_", "-")
  source_sha256 = filesha256(var.source_zip_path)
}

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = coalesce(var.service_account_id, "fn-${local.function_name}")
  display_name = "Runtime identity of function ${var.name}"
  description  = "Used only by the ${var.name} function; roles are granted per resource."
}

resource "google_project_iam_member" "runtime" {
  for_each = var.project_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_storage_bucket_object" "source" {
  bucket       = var.source_bucket
  name         = "functions/${var.name}/${local.source_sha256}.zip"
  source       = var.source_zip_path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = local.function_name
  description = var.description
  labels      = merge(var.labels, { function = local.function_name })

  build_config {
    runtime         = var.runtime
    entry_point     = var.entry_point
    service_account = var.build_service_account_id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
    min_instance_count               = var.min_instance_count
    max_instance_count               = var.max_instance_count
    max_instance_request_concurrency = var.max_instance_request_concurrency
    available_memory                 = var.available_memory
    available_cpu                    = var.available_cpu
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    # functions-framework runs gunicorn with THREADS threads (default 4 per CPU it sees,
    # which on Cloud Run is the host's, not the instance's): one thread per request Cloud
    # Run may send at once. More threads than that only contend for the GIL; the markets
    # list's p99 fell from 84-151 ms to 9-21 ms going from 8 threads to 2 at the same
    # throughput (docs/performance.md).
    environment_variables = merge(
      { THREADS = tostring(var.max_instance_request_concurrency) },
      var.environment_variables,
    )

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment_variables
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !(var.allow_unauthenticated && var.ingress_settings == "ALLOW_ALL")
      error_message = "A function that allows unauthenticated calls must not accept traffic from everywhere: use ALLOW_INTERNAL_AND_GCLB and front it with the load balancer."
    }
  }
}

# Gen2 calls are authorised by Cloud Run, so invokers get roles/run.invoker on the
# function's underlying service (the CFT module grants the same).
resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = var.invoker_members

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# Public API functions: the HTTPS load balancer's serverless NEG carries no identity, so
# the service must accept unauthenticated requests; ingress (internal + load balancer only)
# keeps the run.app URL unreachable, and the handlers authenticate users themselves (JWT).
resource "google_cloud_run_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:Only for API functions behind the HTTPS load balancer (ingress ALLOW_INTERNAL_AND_GCLB enforced by a precondition); users are authenticated by the application's JWT.
  count = var.allow_unauthenticated ? 1 : 0

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
