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

variable "security_policy" {
  type        = string
  description = "Optional Cloud Armor policy id for the API backends."
  default     = null
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
