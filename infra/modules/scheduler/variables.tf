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
  description = "What the job triggers."
}

variable "schedule" {
  type        = string
  description = "unix-cron schedule, e.g. \"* * * * *\" for every minute."

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
  description = "Create the job paused (e.g. to stop polling in dev)."
  default     = false
}

variable "topic_id" {
  type        = string
  description = "Target topic, projects/P/topics/T."

  validation {
    condition     = can(regex("^projects/[^/]+/topics/[^/]+$", var.topic_id))
    error_message = "topic_id must be projects/P/topics/T."
  }
}

variable "message_json" {
  type        = string
  description = "Message body (JSON text, base64-encoded by the module)."

  validation {
    condition     = can(jsondecode(var.message_json))
    error_message = "message_json must be valid JSON."
  }
}

variable "attributes" {
  type        = map(string)
  description = "Pub/Sub message attributes."
  default     = {}
}

variable "retry_count" {
  type        = number
  description = "Retries when publishing fails (Cloud Scheduler defaults to 0)."
  default     = 1

  validation {
    condition     = var.retry_count >= 0 && var.retry_count <= 5
    error_message = "retry_count must be between 0 and 5."
  }
}

variable "max_retry_duration" {
  type        = string
  description = "Give up retrying after this long (\"0s\" = no limit)."
  default     = "30s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.max_retry_duration))
    error_message = "Use a duration in seconds such as \"30s\"."
  }
}

variable "min_backoff_duration" {
  type        = string
  description = "Smallest wait before a retry."
  default     = "5s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.min_backoff_duration))
    error_message = "Use a duration in seconds such as \"5s\"."
  }
}

variable "max_backoff_duration" {
  type        = string
  description = "Largest wait before a retry."
  default     = "20s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.max_backoff_duration))
    error_message = "Use a duration in seconds such as \"20s\"."
  }
}

variable "max_doublings" {
  type        = number
  description = "Times the backoff doubles before growing linearly."
  default     = 2

  validation {
    condition     = var.max_doublings >= 0 && var.max_doublings <= 10
    error_message = "max_doublings must be between 0 and 10."
  }
}
