# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the load balancer."
}

variable "region" {
  type        = string
  description = "Region of the serverless backends (functions and Cloud Run)."
}

variable "name" {
  type        = string
  description = "Prefix of every load balancer resource name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "Use lowercase letters, digits and hyphens (at most 41 characters)."
  }
}

variable "domains" {
  type        = list(string)
  description = "Domains of the Google-managed certificate; their DNS A records must point at the ip_address output."

  validation {
    condition     = length(var.domains) >= 1 && length(var.domains) <= 100
    error_message = "Give between 1 and 100 domains."
  }
}

variable "serverless_backends" {
  type = map(object({
    cloud_run_service = string
    paths             = list(string)
  }))
  description = "Backend key => the Cloud Run service (a gen2 function's service or the streamer) and the URL paths routed to it, e.g. [\"/api/v1/markets\", \"/api/v1/markets/*\"]."

  validation {
    condition     = alltrue(flatten([for b in var.serverless_backends : [for p in b.paths : startswith(p, "/api/v1/")]]))
    error_message = "Serverless backends serve /api/v1/ paths only; everything else is the dashboard bucket."
  }
}

variable "static_bucket_name" {
  type        = string
  description = "Globally unique name of the bucket holding the built dashboard (frontend/dist)."
}

variable "static_uploaders" {
  type        = list(string)
  description = "IAM members (serviceAccount:...) that upload the built dashboard to the static bucket (the deploy build)."
  default     = []

  validation {
    condition     = alltrue([for m in var.static_uploaders : startswith(m, "serviceAccount:")])
    error_message = "Only service accounts upload the dashboard."
  }
}

variable "static_bucket_location" {
  type        = string
  description = "Location of the static bucket, e.g. US."
  default     = "US"
}

variable "static_bucket_force_destroy" {
  type        = bool
  description = "Allow terraform destroy to delete a non-empty static bucket (dev only)."
  default     = false
}

variable "enable_cdn" {
  type        = bool
  description = "Cache the dashboard bundle at Google's edge."
  default     = true
}

variable "rate_limit_count" {
  type        = number
  description = "Requests one client (IP) may send to the API per rate_limit_interval_sec."
  default     = 300

  validation {
    condition     = var.rate_limit_count >= 1 && var.rate_limit_count <= 10000
    error_message = "rate_limit_count must be between 1 and 10000."
  }
}

variable "rate_limit_interval_sec" {
  type        = number
  description = "Window of rate_limit_count, in seconds (a value Cloud Armor accepts)."
  default     = 60

  validation {
    condition     = contains([10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600], var.rate_limit_interval_sec)
    error_message = "Cloud Armor accepts 10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700 or 3600."
  }
}

variable "ban_duration_sec" {
  type        = number
  description = "How long a client that exceeded the rate limit stays banned (429), in seconds."
  default     = 300

  validation {
    condition     = var.ban_duration_sec >= 1 && var.ban_duration_sec <= 86400
    error_message = "ban_duration_sec must be between 1 and 86400."
  }
}

variable "log_sample_rate" {
  type        = number
  description = "Fraction of API requests logged by the load balancer."
  default     = 1.0

  validation {
    condition     = var.log_sample_rate >= 0 && var.log_sample_rate <= 1
    error_message = "log_sample_rate must be between 0 and 1."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on the bucket, address and forwarding rules."
  default     = {}
}
