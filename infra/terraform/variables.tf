variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services, the migration job, the Artifact Registry repository and the Eventarc triggers."
  type        = string
  default     = "europe-west1"
}

variable "image" {
  description = "Container image the services and the migration job are created with. Cloud Build deploys every later image (Terraform ignores image changes after creation), so the default placeholder is only used until the first build."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "repository" {
  description = "Artifact Registry repository (Docker format) that cloudbuild.yaml pushes to."
  type        = string
  default     = "devbot"
}

variable "supabase_url" {
  description = "Supabase project URL, e.g. https://abcd.supabase.co (SUPABASE_URL)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.supabase_url))
    error_message = "supabase_url must be an https:// URL such as https://abcd.supabase.co."
  }
}

variable "database_exec_mode" {
  description = "DATABASE_EXEC_MODE of the services: exec behind Supabase's transaction pooler (port 6543), cache_statement on a direct or session-mode connection."
  type        = string
  default     = "exec"
}

variable "database_max_conns" {
  description = "DATABASE_MAX_CONNS: connections one instance opens. Instances x this must stay under the pooler's limit."
  type        = number
  default     = 5
}

variable "telegram_max_rate" {
  description = "TELEGRAM_MAX_RATE: messages a second the bot may send in all (Telegram allows about 30), shared by the instances that reply (telegram_instances)."
  type        = number
  default     = 25
}

variable "telegram_instances" {
  description = "TELEGRAM_INSTANCES: instances that share telegram_max_rate, each getting an equal part (25/4: about 6 messages a second each). When more instances send at once than this, Telegram may answer 429, which devbot honours (the chat is held for retry_after and the send retried or redelivered). null: the sum of the repliers' max_instances, which never exceeds the bot's limit but leaves each instance under half a message a second."
  type        = number
  default     = 4
}

variable "delivery" {
  description = "How the consumers receive messages: push (push subscriptions made here) or eventarc (Eventarc triggers; their subscriptions get the same retry and dead-letter settings)."
  type        = string
  default     = "push"

  validation {
    condition     = contains(["push", "eventarc"], var.delivery)
    error_message = "delivery must be push or eventarc."
  }
}

variable "max_delivery_attempts" {
  description = "Delivery attempts before a message goes to its dead-letter topic (5-100). The consumers get the same number as MAX_DELIVERY_ATTEMPTS, so the last attempt gives up cleanly (fails the job, releases the credits, tells the user)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "retry_minimum_backoff" {
  description = "Shortest delay before a nacked message is redelivered (0s-600s, at most retry_maximum_backoff)."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]{1,9})?s$", var.retry_minimum_backoff)) && try(tonumber(trimsuffix(var.retry_minimum_backoff, "s")) >= 0 && tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= 600, false)
    error_message = "retry_minimum_backoff must be a number of seconds ending in s, from 0s to 600s (e.g. \"10s\")."
  }
}

variable "retry_maximum_backoff" {
  description = "Longest delay before a nacked message is redelivered (at most 600s)."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]{1,9})?s$", var.retry_maximum_backoff)) && try(tonumber(trimsuffix(var.retry_maximum_backoff, "s")) >= 0 && tonumber(trimsuffix(var.retry_maximum_backoff, "s")) <= 600, false)
    error_message = "retry_maximum_backoff must be a number of seconds ending in s, from 0s to 600s (e.g. \"600s\")."
  }
}

variable "dead_letter_retention" {
  description = "How long the dead-letter subscriptions keep messages for inspection and devbot replay (600s, 10 minutes, to 2678400s, 31 days)."
  type        = string
  default     = "1209600s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]{1,9})?s$", var.dead_letter_retention)) && try(tonumber(trimsuffix(var.dead_letter_retention, "s")) >= 600 && tonumber(trimsuffix(var.dead_letter_retention, "s")) <= 2678400, false)
    error_message = "dead_letter_retention must be a number of seconds ending in s, from 600s to 2678400s (e.g. \"1209600s\")."
  }
}

variable "limits" {
  description = "Per function: CPU, memory, concurrent requests per instance, request timeout (consumers: at most 570 s, so the ack deadline of timeout + 30 s stays within Pub/Sub's 600 s), and the instance range. Overriding one function means restating its whole entry."
  type = map(object({
    cpu             = string
    memory          = string
    concurrency     = number
    timeout_seconds = number
    min_instances   = number
    max_instances   = number
  }))
  default = {
    TelegramWebhook = { cpu = "1", memory = "256Mi", concurrency = 80, timeout_seconds = 30, min_instances = 0, max_instances = 10 }
    StripeWebhook   = { cpu = "1", memory = "256Mi", concurrency = 80, timeout_seconds = 30, min_instances = 0, max_instances = 5 }
    TelegramUpdates = { cpu = "1", memory = "512Mi", concurrency = 20, timeout_seconds = 120, min_instances = 0, max_instances = 10 }
    RefineJobs      = { cpu = "1", memory = "512Mi", concurrency = 8, timeout_seconds = 540, min_instances = 0, max_instances = 20 }
    BuildSteps      = { cpu = "1", memory = "512Mi", concurrency = 8, timeout_seconds = 540, min_instances = 0, max_instances = 20 }
    StripeEvents    = { cpu = "1", memory = "256Mi", concurrency = 20, timeout_seconds = 60, min_instances = 0, max_instances = 5 }
    Sweeper         = { cpu = "1", memory = "256Mi", concurrency = 1, timeout_seconds = 300, min_instances = 0, max_instances = 1 }
  }

  validation {
    condition     = alltrue([for name in ["TelegramWebhook", "StripeWebhook", "TelegramUpdates", "RefineJobs", "BuildSteps", "StripeEvents", "Sweeper"] : contains(keys(var.limits), name)])
    error_message = "limits must have an entry for each of TelegramWebhook, StripeWebhook, TelegramUpdates, RefineJobs, BuildSteps, StripeEvents and Sweeper."
  }
  validation {
    condition     = alltrue([for name, l in var.limits : l.timeout_seconds >= 10 && l.timeout_seconds <= 570])
    error_message = "Every timeout_seconds must be between 10 and 570 (the ack deadline is timeout + 30 s, at most 600 s)."
  }
}

variable "settings" {
  description = "Further non-secret environment variables for every function and the migration job (see .env.example), e.g. { LLM_MODEL = \"google/gemini-2.5-flash\", CREDIT_PACKS = \"100:500:usd\" }. Secrets never go here."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "LOG_LEVEL of every function: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services and the job from terraform destroy."
  type        = bool
  default     = true
}

variable "github_owner" {
  description = "GitHub owner of the repository the Cloud Build trigger builds; empty: no trigger is made (create it by hand, see the README's Deployment section)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository name the Cloud Build trigger builds (connected to Cloud Build beforehand)."
  type        = string
  default     = ""
}

variable "github_branch" {
  description = "Branch whose pushes deploy (a regular expression)."
  type        = string
  default     = "^main$"
}

variable "set_telegram_webhook" {
  description = "Whether the Cloud Build trigger's last step calls Telegram's setWebhook (with the secret token) after each deploy."
  type        = bool
  default     = true
}

variable "refine_lease_seconds" {
  description = "REFINE_LEASE of RefineJobs, BuildSteps and the Sweeper: how long a refinement's (or a build step's) claim lasts unrenewed (renewed every third of it). A crashed job is resumed by the next delivery, which waits up to 4/3 of it; keep it short (10-120 s) and well under RefineJobs' and BuildSteps' handler timeout."
  type        = number
  default     = 30

  validation {
    condition     = var.refine_lease_seconds >= 10 && var.refine_lease_seconds <= 120
    error_message = "refine_lease_seconds must be between 10 and 120."
  }
}

variable "architect_api_key_secret" {
  description = "Whether BuildSteps reads ARCHITECT_API_KEY (the key of ARCHITECT_BASE_URL, the architect model of builds) from the Secret Manager secret devbot-architect-api-key, made here. Cloud Run refuses a secret without a version, so turn it on with terraform apply -target=google_secret_manager_secret.secret, add the value (gcloud secrets versions add devbot-architect-api-key --data-file=-), then apply everything. false: the architect model uses LLM_API_KEY's key."
  type        = bool
  default     = false
}

variable "sweep_schedule" {
  description = "Cloud Scheduler cron schedule of the sweeper's tick (stuck jobs, expired leases, dead-lettered payments)."
  type        = string
  default     = "*/5 * * * *"
}
