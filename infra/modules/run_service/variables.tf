# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project that hosts the service."
}

variable "region" {
  type        = string
  description = "Region of the service."
}

variable "name" {
  type        = string
  description = "Service name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.name))
    error_message = "Cloud Run service names are lowercase letters, digits and hyphens."
  }
}

variable "description" {
  type        = string
  description = "What the service does."
}

variable "image" {
  type        = string
  description = "Container image by digest (REGION-docker.pkg.dev/P/REPO/NAME@sha256:...), so a deploy is exactly the image that was built and tested."

  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "Deploy images by digest (...@sha256:<64 hex>), never by a mutable tag."
  }
}

variable "service_account_id" {
  type        = string
  description = "account_id of the runtime service account; null derives run-<name>."
  default     = null
}

variable "service_account_email" {
  type        = string
  description = "Run as this existing account instead of creating one (the streamer's fan-out runs as the streamer: same database user and grants); null creates the service's own."
  default     = null
}

variable "project_roles" {
  type        = set(string)
  description = "Project-level roles for the runtime account, only where no per-resource binding exists."
  default     = []

  validation {
    condition     = length(setintersection(var.project_roles, ["roles/owner", "roles/editor", "roles/viewer"])) == 0
    error_message = "Basic roles (owner, editor, viewer) are never granted."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the service and its revisions."
  default     = {}
}

variable "ingress" {
  type        = string
  description = "Ingress: INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER (behind the HTTPS LB) or INGRESS_TRAFFIC_INTERNAL_ONLY."
  default     = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_INTERNAL_ONLY."
  }
}

variable "min_instance_count" {
  type        = number
  description = "Minimum instances."

  validation {
    condition     = var.min_instance_count >= 0
    error_message = "min_instance_count cannot be negative."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Maximum instances."

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 100
    error_message = "max_instance_count must be between 1 and 100."
  }
}

variable "cpu_idle" {
  type        = bool
  description = "true = CPU only during requests (request-based billing); false = CPU always allocated, needed for background work outside requests."
}

variable "timeout" {
  type        = string
  description = "Request timeout, at most \"3600s\"; long-lived streams (SSE) end there and clients reconnect."

  validation {
    condition     = can(regex("^[0-9]+s$", var.timeout)) && tonumber(trimsuffix(var.timeout, "s")) <= 3600
    error_message = "timeout is a duration in seconds of at most \"3600s\"."
  }
}

variable "session_affinity" {
  type        = bool
  description = "Best-effort routing of a client's requests to the same instance."
  default     = false
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Concurrent requests (open SSE streams) per instance."
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000
    error_message = "max_instance_request_concurrency must be between 1 and 1000."
  }
}

variable "cpu" {
  type        = string
  description = "vCPU limit per instance."
  default     = "1"
}

variable "memory" {
  type        = string
  description = "Memory limit per instance, e.g. \"512Mi\"."
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "Use a quantity such as 512Mi or 1Gi."
  }
}

variable "environment_variables" {
  type        = map(string)
  description = "Plain (non-secret) environment variables."
  default     = {}
}

variable "secret_environment_variables" {
  type = map(object({
    secret  = string
    version = string
  }))
  description = "Environment variables filled from Secret Manager at instance start: name => {secret id, pinned version number}."
  default     = {}

  validation {
    condition     = alltrue([for s in var.secret_environment_variables : can(regex("^[1-9][0-9]*$", s.version))])
    error_message = "Pin secret versions to a number."
  }
}

variable "health_path" {
  type        = string
  description = "HTTP path of the startup probe; null keeps Cloud Run's default TCP probe."
  default     = null
}

variable "invoker_members" {
  type        = map(string)
  description = "Who may call the service: static key => IAM member."
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.invoker_members) : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "Use allow_unauthenticated for a public service, not a public invoker member."
  }
}

variable "allow_unauthenticated" {
  type        = bool
  description = "Let the load balancer reach the service without an identity (requires a non-public ingress)."
  default     = false
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse terraform destroy of the service."
}
