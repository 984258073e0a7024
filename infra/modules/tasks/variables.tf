# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the queue."
}

variable "region" {
  type        = string
  description = "Location of the queue."
}

variable "name" {
  type        = string
  description = "Queue id (the last part of CLOUD_TASKS_QUEUE)."

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,100}$", var.name))
    error_message = "Queue ids are letters, digits and hyphens."
  }
}

variable "invoker_account_id" {
  type        = string
  description = "account_id of the OIDC invoker account; null derives tasks-<name>."
  default     = null
}

variable "max_dispatches_per_second" {
  type        = number
  description = "rate_limits.max_dispatches_per_second."
  default     = 5

  validation {
    condition     = var.max_dispatches_per_second > 0 && var.max_dispatches_per_second <= 500
    error_message = "max_dispatches_per_second must be in (0, 500]."
  }
}

variable "max_concurrent_dispatches" {
  type        = number
  description = "rate_limits.max_concurrent_dispatches; keep at or below the target's max instances x concurrency."
  default     = 5

  validation {
    condition     = var.max_concurrent_dispatches >= 1 && var.max_concurrent_dispatches <= 5000
    error_message = "max_concurrent_dispatches must be between 1 and 5000."
  }
}

variable "max_attempts" {
  type        = number
  description = "retry_config.max_attempts (including the first); -1 means unlimited, which this project does not use."
  default     = 5

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 100
    error_message = "max_attempts must be between 1 and 100."
  }
}

variable "max_retry_duration" {
  type        = string
  description = "retry_config.max_retry_duration, e.g. \"3600s\"."
  default     = "3600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.max_retry_duration))
    error_message = "Use a duration in seconds such as \"3600s\"."
  }
}

variable "min_backoff" {
  type        = string
  description = "retry_config.min_backoff."
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9.]+s$", var.min_backoff))
    error_message = "Use a duration in seconds such as \"10s\"."
  }
}

variable "max_backoff" {
  type        = string
  description = "retry_config.max_backoff."
  default     = "300s"

  validation {
    condition     = can(regex("^[0-9.]+s$", var.max_backoff))
    error_message = "Use a duration in seconds such as \"300s\"."
  }
}

variable "max_doublings" {
  type        = number
  description = "retry_config.max_doublings."
  default     = 4

  validation {
    condition     = var.max_doublings >= 0 && var.max_doublings <= 16
    error_message = "max_doublings must be between 0 and 16."
  }
}

variable "logging_sampling_ratio" {
  type        = number
  description = "Fraction of task operations logged to Cloud Logging."
  default     = 1.0

  validation {
    condition     = var.logging_sampling_ratio >= 0 && var.logging_sampling_ratio <= 1
    error_message = "logging_sampling_ratio must be between 0 and 1."
  }
}

variable "enqueuer_members" {
  type        = map(string)
  description = "Who creates tasks: static key => IAM member (gets enqueuer on this queue and actAs on the invoker account)."
  default     = {}
}
