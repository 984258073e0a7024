# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project that owns the topics and subscriptions."
}

variable "project_number" {
  type        = string
  description = "Numeric project number; names the Pub/Sub service agent that forwards dead letters."

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the numeric project number, not the project id."
  }
}

variable "name" {
  type        = string
  description = "Topic name (one of shared/messaging/topics.py ALL_TOPICS)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,200}$", var.name))
    error_message = "Topic names here are lowercase letters, digits and hyphens."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every topic and subscription."
  default     = {}
}

variable "message_retention_duration" {
  type        = string
  description = "How long the topic and its subscriptions keep messages, e.g. \"86400s\"."
  default     = "86400s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention_duration))
    error_message = "Use a duration in seconds such as \"86400s\"."
  }
}

variable "dead_letter_retention_duration" {
  type        = string
  description = "How long dead letters are kept (the dead-letter topic and its subscription)."
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.dead_letter_retention_duration))
    error_message = "Use a duration in seconds such as \"604800s\"."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries before a message goes to the dead-letter topic (Pub/Sub allows 5-100)."
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "minimum_backoff" {
  type        = string
  description = "Smallest delay before a redelivery (retry_policy.minimum_backoff)."
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.minimum_backoff))
    error_message = "Use a duration in seconds such as \"10s\"."
  }
}

variable "maximum_backoff" {
  type        = string
  description = "Largest delay before a redelivery (retry_policy.maximum_backoff, at most 600s)."
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.maximum_backoff)) && tonumber(trimsuffix(var.maximum_backoff, "s")) <= 600
    error_message = "Use a duration in seconds of at most \"600s\"."
  }
}

variable "push_subscriptions" {
  type = map(object({
    endpoint                   = string
    oidc_service_account_email = string
    audience                   = string
    ack_deadline_seconds       = optional(number, 60)
  }))
  description = "Push subscriptions, keyed by suffix (\"push\" names <topic>-push): endpoint URL, the invoker account whose OIDC token Pub/Sub attaches, the token audience, and the ack deadline (at least the consumer's timeout)."
  default     = {}

  validation {
    condition     = alltrue([for s in var.push_subscriptions : startswith(s.endpoint, "https://")])
    error_message = "Push endpoints must be https URLs (OIDC tokens are only sent over HTTPS)."
  }

  validation {
    condition     = alltrue([for s in var.push_subscriptions : s.ack_deadline_seconds >= 10 && s.ack_deadline_seconds <= 600])
    error_message = "ack_deadline_seconds must be between 10 and 600."
  }
}

variable "pull_subscriptions" {
  type = map(object({
    subscriber_members   = map(string)
    ack_deadline_seconds = optional(number, 60)
  }))
  description = "Pull subscriptions, keyed by suffix (\"streamer\" names <topic>-streamer), each with the members (static key => \"serviceAccount:...\") allowed to pull."
  default     = {}

  validation {
    condition     = alltrue([for s in var.pull_subscriptions : s.ack_deadline_seconds >= 10 && s.ack_deadline_seconds <= 600])
    error_message = "ack_deadline_seconds must be between 10 and 600."
  }
}

variable "publisher_members" {
  type        = map(string)
  description = "Who may publish to the topic: static key => IAM member (\"serviceAccount:...\")."
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.publisher_members) : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "Topics are never public."
  }
}
