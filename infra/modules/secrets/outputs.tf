# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "secret_ids" {
  description = "Secret id => full resource name (projects/P/secrets/ID)."
  value       = { for k, s in google_secret_manager_secret.this : k => s.id }
}
