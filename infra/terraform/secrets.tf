# Secret Manager secrets, mounted into the services as environment
# variables. Terraform makes the secrets; their values are added with
# `gcloud secrets versions add` (the README's Deployment section), so they never reach the
# Terraform state.
resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = each.key

  labels = {
    app = "devbot"
  }

  annotations = {
    purpose = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Each function reads only its own secrets.
resource "google_secret_manager_secret_iam_member" "function" {
  for_each  = local.secret_access
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

resource "google_secret_manager_secret_iam_member" "migrate" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret["devbot-migrate-database-url"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.migrate.member
}
