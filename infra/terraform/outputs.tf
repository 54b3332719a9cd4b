output "telegram_webhook_url" {
  description = "Give this to Telegram's setWebhook (cloudbuild.yaml does when _SET_WEBHOOK is true)."
  value       = google_cloud_run_v2_service.function["TelegramWebhook"].uri
}

output "stripe_webhook_url" {
  description = "The Stripe webhook endpoint's URL (Dashboard > Developers > Webhooks)."
  value       = google_cloud_run_v2_service.function["StripeWebhook"].uri
}

output "service_urls" {
  description = "Every function's Cloud Run URL."
  value       = { for name, s in google_cloud_run_v2_service.function : name => s.uri }
}

output "image_repository" {
  description = "Where cloudbuild.yaml pushes the image."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.devbot.repository_id}/devbot"
}

output "dead_letter_subscriptions" {
  description = "Dead-letter subscription => the topic `devbot replay` re-publishes its messages to."
  value       = { for topic, s in google_pubsub_subscription.dead_letter : s.name => topic }
}

output "push_invoker" {
  description = "The service account whose OIDC tokens the consumers accept."
  value       = google_service_account.invoker.email
}

output "deployer" {
  description = "The service account cloudbuild.yaml runs as."
  value       = google_service_account.deployer.email
}
