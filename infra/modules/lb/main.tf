# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# One origin for the browser (docs/decisions/0070): a global external Application Load
# Balancer whose URL map sends /api/v1/* prefixes to serverless NEGs (functions and the
# streamer) and everything else to the bucket with the built dashboard. HTTP redirects to
# HTTPS; TLS uses a Google-managed certificate and a TLS 1.2+ policy.

# ---------------------------------------------------------------- static dashboard

resource "google_storage_bucket" "static" {
  #checkov:skip=CKV_GCP_114:Public access prevention would block the load balancer's anonymous reads of the public dashboard bundle; the bucket holds nothing else.
  #checkov:skip=CKV_GCP_62:Access logs of the public static bundle are covered by load balancer request logging (log_config on the backends); a separate log bucket adds cost and no insight.
  project                     = var.project_id
  name                        = var.static_bucket_name
  location                    = var.static_bucket_location
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
  force_destroy               = var.static_bucket_force_destroy

  versioning {
    enabled = true
  }

  # A single-page app: unknown paths fall back to index.html.
  website {
    main_page_suffix = "index.html"
    not_found_page   = "index.html"
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# The load balancer's backend bucket reads anonymously, so the built dashboard (public
# HTML/JS/CSS, no data) is world-readable. Nothing else is ever written to this bucket.
resource "google_storage_bucket_iam_member" "static_public_read" {
  #checkov:skip=CKV_GCP_28:This bucket only serves the public dashboard bundle through the load balancer; it never holds user data.
  bucket = google_storage_bucket.static.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# The deploy build (cloudbuild-deploy.yaml, upload-dashboard) writes the built dashboard
# here as its own account with a grant on this bucket alone, rather than impersonating the
# deployer and its project-wide admin roles for a plain file upload.
resource "google_storage_bucket_iam_member" "static_uploaders" {
  for_each = toset(var.static_uploaders)

  bucket = google_storage_bucket.static.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

resource "google_compute_backend_bucket" "static" {
  project     = var.project_id
  name        = "${var.name}-static"
  bucket_name = google_storage_bucket.static.name
  enable_cdn  = var.enable_cdn
}

# ---------------------------------------------------------------- Cloud Armor (API edge)

# Per-client rate limits on every API backend (docs/decisions/0106): a client (one IP) that
# exceeds rate_limit_count requests in rate_limit_interval_sec is answered 429 and, for
# ban_duration_sec, banned; everyone else is unaffected. The function instance caps bound
# cost; this bounds what one client can take of them.
resource "google_compute_security_policy" "api" {
  project     = var.project_id
  name        = "${var.name}-api"
  description = "Per-IP rate limits in front of the /api/v1/* backends."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4j JNDI lookups (CVE-2021-44228): no backend is Java, refuse them anyway."
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  rule {
    action      = "rate_based_ban"
    priority    = 1000
    description = "Per-client (IP) rate limit with a temporary ban."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      enforce_on_key   = "IP"
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      ban_duration_sec = var.ban_duration_sec
      rate_limit_threshold {
        count        = var.rate_limit_count
        interval_sec = var.rate_limit_interval_sec
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow (the rate limit above applies first)."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

# ---------------------------------------------------------------- serverless backends

resource "google_compute_region_network_endpoint_group" "serverless" {
  for_each = var.serverless_backends

  project               = var.project_id
  region                = var.region
  name                  = "${var.name}-${each.key}"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = each.value.cloud_run_service
  }
}

resource "google_compute_backend_service" "serverless" {
  for_each = var.serverless_backends

  project               = var.project_id
  name                  = "${var.name}-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.api.id

  backend {
    group = google_compute_region_network_endpoint_group.serverless[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = var.log_sample_rate
  }
}

# ---------------------------------------------------------------- routing

resource "google_compute_url_map" "https" {
  project         = var.project_id
  name            = "${var.name}-https"
  default_service = google_compute_backend_bucket.static.id

  host_rule {
    hosts        = ["*"]
    path_matcher = "main"
  }

  path_matcher {
    name            = "main"
    default_service = google_compute_backend_bucket.static.id

    dynamic "path_rule" {
      for_each = var.serverless_backends
      content {
        paths   = path_rule.value.paths
        service = google_compute_backend_service.serverless[path_rule.key].id
      }
    }
  }
}

resource "google_compute_ssl_policy" "modern" {
  project         = var.project_id
  name            = "${var.name}-tls12"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_managed_ssl_certificate" "this" {
  project = var.project_id
  name    = "${var.name}-cert"

  managed {
    domains = var.domains
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_global_address" "this" {
  project = var.project_id
  name    = "${var.name}-ip"
  labels  = var.labels
}

resource "google_compute_target_https_proxy" "this" {
  project          = var.project_id
  name             = "${var.name}-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.this.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name}-https"
  target                = google_compute_target_https_proxy.this.id
  ip_address            = google_compute_global_address.this.id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  labels                = var.labels
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "http_redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name}-http"
  target                = google_compute_target_http_proxy.redirect.id
  ip_address            = google_compute_global_address.this.id
  port_range            = "80"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  labels                = var.labels
}
