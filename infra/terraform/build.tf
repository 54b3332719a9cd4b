# The identity cloudbuild.yaml runs as, and (optionally) the trigger that
# runs it on every push to the deploy branch.

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "devbot-deployer"
  display_name = "devbot deployer"
  description  = "Runs cloudbuild.yaml: builds and pushes the image, runs the migration job, deploys the services."

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "deployer" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/run.developer",
    # Reads the source that `gcloud builds submit` uploads to
    # gs://PROJECT_cloudbuild (manual builds; triggers fetch from GitHub).
    "roles/storage.objectViewer",
  ])
  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer.member
}

resource "google_artifact_registry_repository_iam_member" "deployer" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.devbot.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

# Deploying a revision that runs as a service account needs actAs on it.
resource "google_service_account_iam_member" "deployer_acts_as_function" {
  for_each           = local.functions
  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

resource "google_service_account_iam_member" "deployer_acts_as_migrate" {
  service_account_id = google_service_account.migrate.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

# The optional setWebhook step reads the bot token and the webhook secret.
resource "google_secret_manager_secret_iam_member" "deployer" {
  for_each  = var.set_telegram_webhook ? toset(["devbot-telegram-bot-token", "devbot-telegram-webhook-secret"]) : toset([])
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.deployer.member
}

resource "google_cloudbuild_trigger" "deploy" {
  count           = var.github_owner != "" && var.github_repository != "" ? 1 : 0
  project         = var.project_id
  name            = "devbot-deploy"
  location        = "global"
  description     = "Test, build, migrate and deploy devbot on every push to ${var.github_branch}."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.deployer.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = var.github_branch
    }
  }

  substitutions = {
    _REGION          = var.region
    _REPOSITORY      = var.repository
    _SET_WEBHOOK     = var.set_telegram_webhook ? "true" : "false"
    _WEBHOOK_SERVICE = local.functions.TelegramWebhook.service
  }

  depends_on = [
    google_project_iam_member.deployer,
    google_artifact_registry_repository_iam_member.deployer,
  ]
}
