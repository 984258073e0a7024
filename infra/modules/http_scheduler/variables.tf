# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the job."
}

variable "region" {
  type        = string
  description = "Region of the job (Cloud Scheduler location)."
}

variable "name" {
  type        = string
  description = "Job name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,500}$", var.name))
    error_message = "Job names are letters, digits, '-' and '_'."
  }
}

variable "description" {
  type        = string
  description = "What the job calls."
}

variable "schedule" {
  type        = string
  description = "unix-cron schedule, e.g. \"0 0 * * *\" for midnight."

  validation {
    condition     = length(split(" ", trimspace(var.schedule))) == 5
    error_message = "schedule is a five-field unix-cron expression."
  }
}

variable "time_zone" {
  type        = string
  description = "IANA time zone the schedule is read in."
  default     = "Etc/UTC"
}

variable "paused" {
  type        = bool
  description = "Create the job paused."
  default     = false
}

variable "uri" {
  type        = string
  description = "HTTPS endpoint the job POSTs to."

  validation {
    condition     = startswith(var.uri, "https://")
    error_message = "uri must be an https:// URL."
  }
}

variable "body_json" {
  type        = string
  description = "Request body (JSON text, base64-encoded by the module)."
  default     = "{}"

  validation {
    condition     = can(jsondecode(var.body_json))
    error_message = "body_json must be valid JSON."
  }
}

variable "oidc_service_account_email" {
  type        = string
  description = "Service account whose Google OIDC token the request carries."
}

variable "audience" {
  type        = string
  description = "Audience of the OIDC token (the receiver checks it)."
}

variable "attempt_deadline" {
  type        = string
  description = "How long one attempt may take before it counts as failed."
  default     = "320s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.attempt_deadline))
    error_message = "Use a duration in seconds such as \"320s\"."
  }
}

variable "retry_count" {
  type        = number
  description = "Retries when the call fails (Cloud Scheduler defaults to 0)."
  default     = 3

  validation {
    condition     = var.retry_count >= 0 && var.retry_count <= 5
    error_message = "retry_count must be between 0 and 5."
  }
}

variable "max_retry_duration" {
  type        = string
  description = "Give up retrying after this long (0s: no limit besides retry_count)."
  default     = "3600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.max_retry_duration))
    error_message = "Use a duration in seconds such as \"3600s\"."
  }
}

variable "min_backoff_duration" {
  type        = string
  description = "Smallest wait before a retry."
  default     = "30s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.min_backoff_duration))
    error_message = "Use a duration in seconds such as \"30s\"."
  }
}

variable "max_backoff_duration" {
  type        = string
  description = "Largest wait before a retry."
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.max_backoff_duration))
    error_message = "Use a duration in seconds such as \"600s\"."
  }
}

variable "max_doublings" {
  type        = number
  description = "Times the backoff doubles before growing linearly."
  default     = 3

  validation {
    condition     = var.max_doublings >= 0 && var.max_doublings <= 10
    error_message = "max_doublings must be between 0 and 10."
  }
}
