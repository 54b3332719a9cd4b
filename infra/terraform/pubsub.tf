# Topics, their dead-letter topics, and how the consumers receive messages.

resource "google_pubsub_topic" "topic" {
  for_each = local.topics
  project  = var.project_id
  name     = each.key

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.topics
  project  = var.project_id
  name     = "${each.key}-dead-letter"

  depends_on = [google_project_service.apis]
}

# A dead-letter topic without a subscription loses its messages. This one
# keeps them for inspection and `devbot replay`.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.key}-dead-letter-sub"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# The push identity: Pub/Sub (and Eventarc) sign each push request with an
# OIDC token of this account; only it may invoke the consumers.
resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "devbot-push-invoker"
  display_name = "devbot push invoker"
  description  = "Identity of Pub/Sub push and Eventarc deliveries to the devbot consumers."

  depends_on = [google_project_service.apis]
}

# Pub/Sub mints the OIDC tokens as this account.
resource "google_service_account_iam_member" "invoker_token_creator" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_pubsub_topic.topic]
}

resource "google_pubsub_subscription" "push" {
  for_each = { for name, f in local.consumers : name => f if var.delivery == "push" }
  project  = var.project_id
  name     = "${each.value.consumes}-push"
  topic    = google_pubsub_topic.topic[each.value.consumes].id

  ack_deadline_seconds    = local.ack_deadline[each.key]
  enable_message_ordering = local.topics[each.value.consumes].ordered

  push_config {
    push_endpoint = google_cloud_run_v2_service.function[each.key].uri

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.push_audience[each.key]
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.consumes].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.invoker,
    google_service_account_iam_member.invoker_token_creator,
  ]
}

# Dead-lettering: the Pub/Sub service agent publishes to the dead-letter
# topics and acknowledges on the source subscriptions.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.topics
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "push_dead_letter_subscriber" {
  for_each     = google_pubsub_subscription.push
  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The functions that publish, each to its own topics only.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_publishers
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.value.topic].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.function].member
}

# Each dead-letter topic also pushes to its consumer's /dead-letter path:
# a message there exhausted its attempts without the consumer giving up on
# its own (Eventarc sends no delivery attempt; an instance can die on the
# last one), so the consumer fails its job, releases the held credits and
# tells the user. The pull subscription above still keeps a copy for replay.
resource "google_pubsub_subscription" "dead_letter_push" {
  for_each = local.consumers
  project  = var.project_id
  name     = "${each.value.consumes}-dead-letter-push"
  topic    = google_pubsub_topic.dead_letter[each.value.consumes].id

  ack_deadline_seconds = 60

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.function[each.key].uri}/dead-letter"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.push_audience[each.key]
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.invoker,
    google_service_account_iam_member.invoker_token_creator,
  ]
}
