# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project that hosts the function."
}

variable "region" {
  type        = string
  description = "Region of the function, e.g. us-central1."
}

variable "name" {
  type        = string
  description = "Function directory name under functions/ (underscores become hyphens in the deployed name)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{1,40}$", var.name))
    error_message = "Use the functions/ directory name: lowercase letters, digits and underscores."
  }
}

variable "description" {
  type        = string
  description = "What the function does, shown in the console."
}

variable "entry_point" {
  type        = string
  description = "Name of the decorated handler in main.py."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime id."
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]{2}$", var.runtime))
    error_message = "This project deploys Python runtimes only (python311 and later)."
  }
}

variable "source_zip_path" {
  type        = string
  description = "Path of the packaged source zip (devstack/package_functions.py output, build/functions/<name>.zip)."
}

variable "source_bucket" {
  type        = string
  description = "Bucket that holds function source archives."
}

variable "build_service_account_id" {
  type        = string
  description = "Full resource id (projects/P/serviceAccounts/EMAIL) of the account Cloud Build uses to build the function; never the default compute account."

  validation {
    condition     = can(regex("^projects/[^/]+/serviceAccounts/[^/]+$", var.build_service_account_id)) && !can(regex("-compute@developer\\.gserviceaccount\\.com$", var.build_service_account_id))
    error_message = "Pass a dedicated service account's id (projects/P/serviceAccounts/EMAIL), not the default compute service account."
  }
}

variable "service_account_id" {
  type        = string
  description = "account_id of the runtime service account; null derives fn-<name>."
  default     = null
}

variable "project_roles" {
  type        = set(string)
  description = "Project-level roles for the runtime account, only where no per-resource binding exists (e.g. roles/cloudsql.client)."
  default     = []

  validation {
    condition     = length(setintersection(var.project_roles, ["roles/owner", "roles/editor", "roles/viewer"])) == 0
    error_message = "Basic roles (owner, editor, viewer) are never granted."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the function."
  default     = {}
}

variable "min_instance_count" {
  type        = number
  description = "Instances kept warm (cost against cold starts)."
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0
    error_message = "min_instance_count cannot be negative."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on instances; with the DB pool size it bounds Cloud SQL connections. Required on purpose."

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 100
    error_message = "max_instance_count must be between 1 and 100."
  }
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Concurrent requests per instance (more than 1 needs at least 1 vCPU)."
  default     = 1

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000
    error_message = "max_instance_request_concurrency must be between 1 and 1000."
  }
}

variable "available_memory" {
  type        = string
  description = "Memory per instance, e.g. \"512Mi\"."
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.available_memory))
    error_message = "Use a Kubernetes-style quantity such as 512Mi or 1Gi."
  }
}

variable "available_cpu" {
  type        = string
  description = "vCPUs per instance, e.g. \"1\"."
  default     = "1"
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout; HTTP functions allow up to 3600."

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Who can reach the function's URL: ALLOW_INTERNAL_ONLY (Pub/Sub push, Cloud Tasks) or ALLOW_INTERNAL_AND_GCLB (behind the load balancer)."

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB; ALLOW_ALL is not used in this project."
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
    error_message = "Pin secret versions to a number; \"latest\" would change a running function silently."
  }
}

variable "invoker_members" {
  type        = map(string)
  description = "Who may call the function: static key => IAM member (push, Tasks or Scheduler invoker accounts)."
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.invoker_members) : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "Use allow_unauthenticated for public API functions, not a public invoker member."
  }
}

variable "allow_unauthenticated" {
  type        = bool
  description = "Let the load balancer reach the function without an identity (public API functions; requires ALLOW_INTERNAL_AND_GCLB ingress)."
  default     = false
}
