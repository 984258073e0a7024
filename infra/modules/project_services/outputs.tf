# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "enabled" {
  description = "The enabled API names; depend on this output to order resources after enablement."
  value       = [for s in google_project_service.this : s.service]
}
