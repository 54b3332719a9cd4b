# What each function is, in one place: the Cloud Run service that runs it,
# whether the world may call it, the topic it consumes or publishes to, and
# the variables and secrets it reads. internal/deploycheck holds this table
# and the code together (function names, variable names, topic names).
locals {
  # Secret Manager secrets: secret id => what goes in it. The values are added
  # with gcloud (the README's Deployment section), never through Terraform, so no secret ends
  # up in the state.
  secrets = merge({
    "devbot-database-url"            = "PostgreSQL URL of Supabase's transaction pooler (port 6543), for the services"
    "devbot-migrate-database-url"    = "PostgreSQL URL of a session-mode or direct connection (port 5432), for devbot migrate"
    "devbot-supabase-key"            = "Supabase service-role key"
    "devbot-telegram-bot-token"      = "Telegram bot token from @BotFather"
    "devbot-telegram-webhook-secret" = "secret_token given to Telegram's setWebhook"
    "devbot-stripe-secret-key"       = "Stripe secret key (sk_live_... or sk_test_...)"
    "devbot-stripe-webhook-secret"   = "Stripe webhook endpoint signing secret (whsec_...)"
    "devbot-llm-api-key"             = "key of the OpenAI-compatible model endpoint (LLM_BASE_URL)"
    "devbot-api-key-encryption-key"  = "32 random bytes, base64: encrypts users' own model keys"
  }, local.optional_secrets)

  # Secrets made (and mounted) only when a variable asks for them: the
  # architect model's own key (var.architect_api_key_secret; without it
  # ARCHITECT_API_KEY falls back to LLM_API_KEY).
  optional_secrets = var.architect_api_key_secret ? {
    "devbot-architect-api-key" = "key of the architect model's endpoint (ARCHITECT_BASE_URL), for builds"
  } : {}

  # Topics: name => whether its publishers set ordering keys (DESIGN.md:
  # chat id on telegram-updates, project/path on refine-jobs, build/<id> on
  # build-steps).
  topics = {
    "telegram-updates" = { ordered = true }
    "stripe-events"    = { ordered = false }
    "refine-jobs"      = { ordered = true }
    "build-steps"      = { ordered = true }
    "sweep"            = { ordered = false } # sweeper.tf: Cloud Scheduler's ticks
  }

  # Settings every function reads.
  common_env = merge({
    ENVIRONMENT          = "production"
    LOG_FORMAT           = "json"
    LOG_LEVEL            = var.log_level
    GOOGLE_CLOUD_PROJECT = var.project_id
  }, var.settings)

  # Settings of the functions that use PostgreSQL and Supabase Storage.
  data_env = {
    DATABASE_EXEC_MODE = var.database_exec_mode
    DATABASE_MAX_CONNS = tostring(var.database_max_conns)
    STORAGE_BACKEND    = "supabase"
    SUPABASE_URL       = var.supabase_url
  }

  functions = {
    TelegramWebhook = {
      service    = "devbot-telegram-webhook"
      account_id = "devbot-telegram-webhook"
      public     = true
      consumes   = ""
      publishes  = ["telegram-updates"]
      env = {
        TOPIC_TELEGRAM_UPDATES = "telegram-updates"
      }
      secrets = {
        TELEGRAM_WEBHOOK_SECRET = "devbot-telegram-webhook-secret"
      }
    }
    StripeWebhook = {
      service    = "devbot-stripe-webhook"
      account_id = "devbot-stripe-webhook"
      public     = true
      consumes   = ""
      publishes  = ["stripe-events"]
      env = {
        TOPIC_STRIPE_EVENTS = "stripe-events"
      }
      secrets = {
        STRIPE_WEBHOOK_SECRET = "devbot-stripe-webhook-secret"
      }
    }
    TelegramUpdates = {
      service    = "devbot-telegram-updates"
      account_id = "devbot-telegram-updates"
      public     = false
      consumes   = "telegram-updates"
      publishes  = ["refine-jobs", "build-steps"]
      env = merge(local.data_env, {
        TOPIC_REFINE_JOBS = "refine-jobs"
        TOPIC_BUILD_STEPS = "build-steps"
      })
      secrets = {
        DATABASE_URL           = "devbot-database-url"
        SUPABASE_KEY           = "devbot-supabase-key"
        TELEGRAM_BOT_TOKEN     = "devbot-telegram-bot-token"
        STRIPE_SECRET_KEY      = "devbot-stripe-secret-key"
        API_KEY_ENCRYPTION_KEY = "devbot-api-key-encryption-key"
      }
    }
    RefineJobs = {
      service    = "devbot-refine-jobs"
      account_id = "devbot-refine-jobs"
      public     = false
      consumes   = "refine-jobs"
      publishes  = []
      # The lease is sized with the timeout and the retry policy
      # (functions.RefineLeaseConfig has the arithmetic; deploycheck checks it).
      env = merge(local.data_env, { REFINE_LEASE = "${var.refine_lease_seconds}s" })
      secrets = {
        DATABASE_URL           = "devbot-database-url"
        SUPABASE_KEY           = "devbot-supabase-key"
        TELEGRAM_BOT_TOKEN     = "devbot-telegram-bot-token"
        LLM_API_KEY            = "devbot-llm-api-key"
        API_KEY_ENCRYPTION_KEY = "devbot-api-key-encryption-key"
      }
    }
    BuildSteps = {
      service    = "devbot-build-steps"
      account_id = "devbot-build-steps"
      public     = false
      consumes   = "build-steps"
      publishes  = ["build-steps"] # each step publishes the build's next one
      # A step holds a lease sized as RefineJobs' (functions.RefineLeaseConfig).
      env = merge(local.data_env, {
        TOPIC_BUILD_STEPS = "build-steps"
        REFINE_LEASE      = "${var.refine_lease_seconds}s"
      })
      # ARCHITECT_API_KEY only with var.architect_api_key_secret (above).
      secrets = merge(
        {
          DATABASE_URL           = "devbot-database-url"
          SUPABASE_KEY           = "devbot-supabase-key"
          TELEGRAM_BOT_TOKEN     = "devbot-telegram-bot-token"
          LLM_API_KEY            = "devbot-llm-api-key"
          API_KEY_ENCRYPTION_KEY = "devbot-api-key-encryption-key"
        },
        var.architect_api_key_secret ? { ARCHITECT_API_KEY = "devbot-architect-api-key" } : {},
      )
    }
    Sweeper = {
      service    = "devbot-sweeper"
      account_id = "devbot-sweeper"
      public     = false
      consumes   = "sweep"
      publishes  = ["refine-jobs", "build-steps"]
      env = merge(local.data_env, {
        TOPIC_REFINE_JOBS = "refine-jobs"
        TOPIC_BUILD_STEPS = "build-steps"
        REFINE_LEASE      = "${var.refine_lease_seconds}s"
      })
      secrets = {
        DATABASE_URL       = "devbot-database-url"
        SUPABASE_KEY       = "devbot-supabase-key"
        TELEGRAM_BOT_TOKEN = "devbot-telegram-bot-token"
      }
    }
    StripeEvents = {
      service    = "devbot-stripe-events"
      account_id = "devbot-stripe-events"
      public     = false
      consumes   = "stripe-events"
      publishes  = []
      env = {
        DATABASE_EXEC_MODE = var.database_exec_mode
        DATABASE_MAX_CONNS = tostring(var.database_max_conns)
      }
      secrets = {
        DATABASE_URL       = "devbot-database-url"
        TELEGRAM_BOT_TOKEN = "devbot-telegram-bot-token"
      }
    }
  }

  consumers = { for name, f in local.functions : name => f if f.consumes != "" }

  # The audience of the OIDC token each consumer's pushes carry, and that
  # the consumer checks (PUSH_AUTH_AUDIENCE). It cannot be the service URL:
  # that is known only after the service exists, and the service's own
  # environment cannot refer to it (a cycle). A custom audience is known
  # before apply; the service lists it in custom_audiences so that Cloud Run
  # IAM accepts it too, the push subscriptions (and the Eventarc
  # subscriptions, eventarc.tf) send it, and the consumer checks it.
  push_audience = { for name, f in local.consumers : name => "devbot:${var.project_id}:${f.service}" }

  # A consumer's deadline inside its request timeout: the handler stops
  # (and records what it can) before Cloud Run cuts the request off.
  handler_timeout = { for name, l in var.limits : name => "${floor(l.timeout_seconds * 0.9)}s" }

  # Pub/Sub waits this long for a push response; it covers the request
  # timeout, so a slow attempt is never redelivered while it still runs.
  ack_deadline = { for name, l in var.limits : name => min(600, l.timeout_seconds + 30) }

  # The instances that reply (they have the bot token) share the bot's
  # budget: each gets TELEGRAM_MAX_RATE / telegram_instances (README,
  # "Beyond one machine"). Null: all of them at their max_instances, the
  # bound that holds even at full scale (keep this list in step with the
  # functions that mount TELEGRAM_BOT_TOKEN).
  telegram_instances = coalesce(var.telegram_instances,
    var.limits["TelegramUpdates"].max_instances + var.limits["RefineJobs"].max_instances +
    var.limits["BuildSteps"].max_instances + var.limits["StripeEvents"].max_instances +
  var.limits["Sweeper"].max_instances)

  # Each function's full environment (plain values; secrets are separate).
  function_env = {
    for name, f in local.functions : name => merge(
      local.common_env,
      f.env,
      { FUNCTION_TARGET = name },
      # Consumers only: give up on the last attempt, finish before the
      # timeout, accept only pushes signed for them by the push identity (a
      # consumer refuses to start in production without both PUSH_AUTH_*).
      { for k, v in {
        MAX_DELIVERY_ATTEMPTS     = tostring(var.max_delivery_attempts)
        HANDLER_TIMEOUT           = local.handler_timeout[name]
        PUSH_AUTH_AUDIENCE        = lookup(local.push_audience, name, "")
        PUSH_AUTH_SERVICE_ACCOUNT = google_service_account.invoker.email
      } : k => v if f.consumes != "" },
      # Senders only: their share of Telegram's flood limits.
      { for k, v in {
        TELEGRAM_MAX_RATE  = tostring(var.telegram_max_rate)
        TELEGRAM_INSTANCES = tostring(local.telegram_instances)
      } : k => v if contains(keys(f.secrets), "TELEGRAM_BOT_TOKEN") },
    )
  }

  # (function, secret) pairs, for the secret accessor grants.
  secret_access = merge([
    for name, f in local.functions : {
      for env_name, secret in f.secrets : "${name}/${secret}" => { function = name, secret = secret }
    }
  ]...)

  # (function, topic) pairs, for the publisher grants.
  topic_publishers = merge([
    for name, f in local.functions : {
      for topic in f.publishes : "${name}/${topic}" => { function = name, topic = topic }
    }
  ]...)

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
