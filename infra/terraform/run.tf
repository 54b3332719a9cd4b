# One Cloud Run service per function, all from the same image;
# FUNCTION_TARGET picks the function.

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = each.value.account_id
  display_name = "devbot ${each.key}"
  description  = "Runtime identity of the ${each.key} Cloud Run service."

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_service" "function" {
  for_each            = local.functions
  project             = var.project_id
  name                = each.value.service
  location            = var.region
  deletion_protection = var.deletion_protection
  # Pub/Sub push and Eventarc come from outside the project's network, so
  # the consumers keep ingress "all"; Cloud Run IAM (run.invoker for the
  # push identity only) is what keeps everyone else out.
  ingress = "INGRESS_TRAFFIC_ALL"
  # The consumers' push audience (locals.tf): Cloud Run IAM accepts tokens
  # for it besides the service URL.
  custom_audiences = each.value.consumes != "" ? [local.push_audience[each.key]] : null

  template {
    service_account                  = google_service_account.function[each.key].email
    timeout                          = "${var.limits[each.key].timeout_seconds}s"
    max_instance_request_concurrency = var.limits[each.key].concurrency

    scaling {
      min_instance_count = var.limits[each.key].min_instances
      max_instance_count = var.limits[each.key].max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.limits[each.key].cpu
          memory = var.limits[each.key].memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.function_env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = each.value.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secret[env.value].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    # cloudbuild.yaml deploys every new image with gcloud, which also
    # records itself as the client, names the new revision and sets its
    # own annotations and labels (as does the README's secret roll,
    # --update-labels). Terraform owns the rest, so a plan after a deploy
    # is clean and an apply never rolls a deploy back.
    ignore_changes = [
      template[0].containers[0].image,
      template[0].revision,
      template[0].annotations,
      template[0].labels,
      client,
      client_version,
      annotations,
      labels,
    ]
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.function,
  ]
}

# Telegram and Stripe call the webhooks without Google credentials: they
# prove themselves with the secret token and the signature instead.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, f in local.functions : name => f if f.public }
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The consumers answer only the push identity.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.consumers
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.invoker.member
}

# devbot migrate, run by cloudbuild.yaml before each deploy. It needs a
# connection that keeps session advisory locks (not the transaction pooler).
resource "google_service_account" "migrate" {
  project      = var.project_id
  account_id   = "devbot-migrate"
  display_name = "devbot migrate"
  description  = "Runtime identity of the devbot-migrate Cloud Run job."

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_job" "migrate" {
  project             = var.project_id
  name                = "devbot-migrate"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.migrate.email
      timeout         = "600s"
      max_retries     = 1

      containers {
        image = var.image
        args  = ["migrate"]

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        dynamic "env" {
          for_each = local.common_env
          content {
            name  = env.key
            value = env.value
          }
        }

        env {
          name = "DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secret["devbot-migrate-database-url"].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    # As the services': cloudbuild.yaml's `gcloud run jobs update --image`
    # owns the image, the client and gcloud's annotations and labels.
    ignore_changes = [
      template[0].template[0].containers[0].image,
      template[0].annotations,
      template[0].labels,
      client,
      client_version,
      annotations,
      labels,
    ]
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.migrate,
  ]
}
