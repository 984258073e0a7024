# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the archive bucket and the BigQuery dataset."
}

variable "region" {
  type        = string
  description = "Location of the bucket and the dataset."
}

variable "bucket_name" {
  type        = string
  description = "Name of the archive bucket (globally unique)."
}

variable "labels" {
  type        = map(string)
  description = "Labels on the bucket and the dataset."
  default     = {}
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy a non-empty bucket (never in prod: it is the only copy of old snapshots)."
  default     = false
}

variable "nearline_after_days" {
  type        = number
  description = "Days after which an archived file moves to Nearline (read rarely: long backtests)."
  default     = 30
}

variable "archive_class_after_days" {
  type        = number
  description = "Days after which an archived file moves to the Archive class."
  default     = 365
}

variable "writer_members" {
  type        = set(string)
  description = "IAM members that write and verify file sets (the poller's account)."
}

variable "reader_members" {
  type        = set(string)
  description = "IAM members that read file sets (the backtest worker's account)."
  default     = []
}

variable "dataset_id" {
  type        = string
  description = "BigQuery dataset holding the external table over the archive."
  default     = "kalshi_history"
}
