# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the instance."
}

variable "region" {
  type        = string
  description = "Region of the instance (same as the functions, to keep latency low)."
}

variable "instance_name" {
  type        = string
  description = "Instance name; names are reserved for a week after deletion."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,96}[a-z0-9]$", var.instance_name))
    error_message = "Instance names are lowercase letters, digits and hyphens."
  }
}

variable "database_version" {
  type        = string
  description = "Postgres major version; the schema is tested on Postgres 15."
  default     = "POSTGRES_15"

  validation {
    condition     = can(regex("^POSTGRES_1[5-9]$", var.database_version))
    error_message = "Use POSTGRES_15 or later."
  }
}

variable "tier" {
  type        = string
  description = "Machine tier, e.g. db-custom-1-3840 (dev) or db-custom-2-7680 (prod)."
}

variable "availability_type" {
  type        = string
  description = "ZONAL (dev) or REGIONAL (prod: a standby in another zone)."

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.availability_type)
    error_message = "availability_type must be ZONAL or REGIONAL."
  }
}

variable "disk_size_gb" {
  type        = number
  description = "Initial SSD size in GB (autoresize grows it)."
  default     = 10

  validation {
    condition     = var.disk_size_gb >= 10
    error_message = "Cloud SQL disks start at 10 GB."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the instance (Terraform and API). Always true in prod."
}

variable "backup_start_time" {
  type        = string
  description = "Daily backup window start, HH:MM UTC."
  default     = "03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_start_time))
    error_message = "Use HH:MM (24 h, UTC)."
  }
}

variable "retained_backups" {
  type        = number
  description = "How many daily backups to keep."
  default     = 7

  validation {
    condition     = var.retained_backups >= 1 && var.retained_backups <= 365
    error_message = "retained_backups must be between 1 and 365."
  }
}

variable "max_connections" {
  type        = number
  description = "Postgres max_connections; must cover every deployable's max instances x pool size (the platform module checks it)."

  validation {
    condition     = var.max_connections >= 25 && var.max_connections <= 4000
    error_message = "max_connections must be between 25 and 4000."
  }
}

variable "extra_database_flags" {
  type        = map(string)
  description = "Further Postgres flags, merged over the module's defaults."
  default     = {}
}

variable "database_name" {
  type        = string
  description = "Application database (DB_NAME)."
  default     = "kalshi_insights"
}

variable "iam_service_accounts" {
  type        = map(string)
  description = "Service accounts that log in as IAM database users: static key => e-mail."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels (user_labels) on the instance."
  default     = {}
}
