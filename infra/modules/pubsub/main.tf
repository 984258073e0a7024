# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# One topic family: the topic, its dead-letter topic, a pull subscription that keeps dead
# letters (without one they are dropped), and the subscriptions this project owns on the
# topic (docs/decisions/0040: push subscriptions we own rather than Eventarc triggers, so
# every one of them carries a dead_letter_policy and a retry_policy).
# Names match shared/messaging/topics.py: <topic>-dead-letter, <topic>-dead-letter-sub.

locals {
  service_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  subscription_names = concat(
    [for key, _ in var.push_subscriptions : "${var.name}-${key}"],
    [for key, _ in var.pull_subscriptions : "${var.name}-${key}"],
  )
  pull_subscriber_pairs = merge([
    for key, sub in var.pull_subscriptions : {
      for who, member in sub.subscriber_members : "${key}|${who}" => { key = key, member = member }
    }
  ]...)
}

resource "google_pubsub_topic" "main" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption suffices for market data and event envelopes (no secrets travel on topics); CMEK is a follow-up if required.
  project                    = var.project_id
  name                       = var.name
  labels                     = var.labels
  message_retention_duration = var.message_retention_duration
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Same as the main topic: Google-managed encryption.
  project                    = var.project_id
  name                       = "${var.name}-dead-letter"
  labels                     = var.labels
  message_retention_duration = var.dead_letter_retention_duration
}

# Keeps dead letters for inspection and replay. It is the end of the line, so it has no
# dead_letter_policy of its own; its retry_policy only paces redelivery to whoever reads it.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.name}-dead-letter-sub"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention_duration
  retain_acked_messages      = false

  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  expiration_policy {
    ttl = ""
  }
}

# Push delivery to a consumer (a CloudEvent function). The body keeps Pub/Sub's wrapper:
# functions-framework turns it into the CloudEvent an Eventarc trigger would deliver, and
# the endpoint path keeps /projects/P/topics/T so the CloudEvent "source" is filled in.
resource "google_pubsub_subscription" "push" {
  for_each = var.push_subscriptions

  project                    = var.project_id
  name                       = "${var.name}-${each.key}"
  topic                      = google_pubsub_topic.main.id
  labels                     = var.labels
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  push_config {
    push_endpoint = each.value.endpoint

    oidc_token {
      service_account_email = each.value.oidc_service_account_email
      audience              = each.value.audience
    }
  }

  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# Pull delivery to a long-running reader (the streamer, which keeps its CPU allocated).
resource "google_pubsub_subscription" "pull" {
  for_each = var.pull_subscriptions

  project                    = var.project_id
  name                       = "${var.name}-${each.key}"
  topic                      = google_pubsub_topic.main.id
  labels                     = var.labels
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# ---------------------------------------------------------------- IAM

# Publishers: whoever var.publisher_members names (one runtime service account each). Maps
# with static keys, because service account e-mails are unknown until the accounts exist.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = var.publisher_members

  project = var.project_id
  topic   = google_pubsub_topic.main.name
  role    = "roles/pubsub.publisher"
  member  = each.value
}

# Subscribers of the pull subscriptions.
resource "google_pubsub_subscription_iam_member" "pull_subscriber" {
  for_each = local.pull_subscriber_pairs

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[each.value.key].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

# The Pub/Sub service agent forwards undeliverable messages: it must publish to the
# dead-letter topic and acknowledge on each source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_subscriber" {
  for_each = toset(local.subscription_names)

  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.service_agent

  depends_on = [google_pubsub_subscription.push, google_pubsub_subscription.pull]
}

# Push with an OIDC token: the service agent mints tokens for the push identity
# (needed in projects created before April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "push_token_creator" {
  for_each = var.push_subscriptions

  service_account_id = "projects/${var.project_id}/serviceAccounts/${each.value.oidc_service_account_email}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.service_agent
}
