# The sweeper (internal/sweep): Cloud Scheduler publishes a tick to the
# sweep topic every few minutes; the topic's push subscription (pubsub.tf,
# like every consumer's: OIDC, retry policy, dead-letter topic) brings it to
# the Sweeper service, which publishes stuck refinements again, fails those
# that cannot finish, and credits the paid Stripe events on the
# stripe-events dead-letter subscription.

resource "google_cloud_scheduler_job" "sweep" {
  project     = var.project_id
  region      = var.region
  name        = "devbot-sweep"
  description = "Tick of the devbot sweeper (stuck jobs, expired leases, dead-lettered payments)."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic[local.functions["Sweeper"].consumes].id
    data       = "eyJzd2VlcCI6dHJ1ZX0=" # base64 of {"sweep":true}
  }

  # A missed tick is only a later sweep: the push subscription retries the
  # delivery, and the next tick comes within minutes.
  retry_config {
    retry_count = 1
  }

  depends_on = [
    google_project_service.apis,
    google_pubsub_topic_iam_member.scheduler_publisher,
  ]
}

# Cloud Scheduler publishes as its service agent.
resource "google_pubsub_topic_iam_member" "scheduler_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.functions["Sweeper"].consumes].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  depends_on = [google_project_service.apis]
}

# The sweeper pulls the paid Stripe events that exhausted their deliveries
# and acknowledges each once it is credited.
resource "google_pubsub_subscription_iam_member" "sweeper_stripe_dead_letters" {
  for_each     = { for name, f in local.functions : name => f if name == "StripeEvents" }
  project      = var.project_id
  subscription = google_pubsub_subscription.dead_letter[each.value.consumes].name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.function["Sweeper"].member
}
