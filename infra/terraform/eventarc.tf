# The alternative delivery (var.delivery = "eventarc"): one Eventarc trigger
# per consumer. Eventarc creates the push subscription itself; the retry,
# dead-letter, ack-deadline and expiry settings are then set on that
# subscription with gcloud (the google provider cannot manage a
# subscription it did not create), so the machine running terraform apply
# needs gcloud.

# The trigger's identity receives the events (Eventarc's documented
# baseline for every event source) and invokes the consumers (run.tf).
resource "google_project_iam_member" "invoker_event_receiver" {
  count   = var.delivery == "eventarc" ? 1 : 0
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.invoker.member
}

resource "google_eventarc_trigger" "consumer" {
  for_each        = { for name, f in local.consumers : name => f if var.delivery == "eventarc" }
  project         = var.project_id
  name            = "${each.value.service}-trigger"
  location        = var.region
  service_account = google_service_account.invoker.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.topic[each.value.consumes].id
    }
  }

  destination {
    cloud_run_service {
      service = google_cloud_run_v2_service.function[each.key].name
      region  = var.region
      path    = "/"
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.invoker,
    google_service_account_iam_member.invoker_token_creator,
    google_project_iam_member.invoker_event_receiver,
  ]
}

resource "terraform_data" "eventarc_subscription" {
  for_each = google_eventarc_trigger.consumer

  input = {
    subscription              = each.value.transport[0].pubsub[0].subscription
    dead_letter_topic         = google_pubsub_topic.dead_letter[local.functions[each.key].consumes].id
    max_delivery_attempts     = var.max_delivery_attempts
    ack_deadline_seconds      = local.ack_deadline[each.key]
    minimum_backoff           = var.retry_minimum_backoff
    maximum_backoff           = var.retry_maximum_backoff
    push_auth_service_account = google_service_account.invoker.email
    push_auth_audience        = local.push_audience[each.key]
  }

  # Re-run whenever a setting changes, or Eventarc may have rewritten its
  # subscription (a new subscription, or a change of the trigger's
  # destination).
  triggers_replace = [
    each.value.transport[0].pubsub[0].subscription,
    google_cloud_run_v2_service.function[each.key].name,
    var.max_delivery_attempts,
    local.ack_deadline[each.key],
    var.retry_minimum_backoff,
    var.retry_maximum_backoff,
    google_service_account.invoker.email,
    local.push_audience[each.key],
  ]

  # Eventarc's token would carry its own audience, which the consumer cannot
  # know before its service exists (the cycle that locals.tf's
  # push_audience avoids). So the update also sets the OIDC token to the
  # consumer's push audience, keeping the push endpoint Eventarc chose
  # (read back with describe: it carries Eventarc's query parameters).
  provisioner "local-exec" {
    command = join(" ", [
      "gcloud pubsub subscriptions update",
      each.value.transport[0].pubsub[0].subscription,
      "--project=${var.project_id}",
      "--ack-deadline=${local.ack_deadline[each.key]}",
      "--min-retry-delay=${var.retry_minimum_backoff}",
      "--max-retry-delay=${var.retry_maximum_backoff}",
      "--dead-letter-topic=${google_pubsub_topic.dead_letter[local.functions[each.key].consumes].id}",
      "--max-delivery-attempts=${var.max_delivery_attempts}",
      "--expiration-period=never",
      "--push-endpoint=\"$(gcloud pubsub subscriptions describe ${each.value.transport[0].pubsub[0].subscription} --project=${var.project_id} --format='value(pushConfig.pushEndpoint)')\"",
      "--push-auth-service-account=${google_service_account.invoker.email}",
      "--push-auth-token-audience=${local.push_audience[each.key]}",
    ])
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}

resource "google_pubsub_subscription_iam_member" "eventarc_dead_letter_subscriber" {
  for_each     = google_eventarc_trigger.consumer
  project      = var.project_id
  subscription = each.value.transport[0].pubsub[0].subscription
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
