package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/devbot-hq/devbot/internal/config"
)

const terraformDir = "../../infra/terraform"

// realFiles reads the Terraform once; tests mutate copies.
var realFiles = sync.OnceValues(func() (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(terraformDir, "*.tf"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	return files, nil
})

// setup returns a copy of the real Terraform files.
func setup(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := realFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no Terraform files in %s", terraformDir)
	}
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = slices.Clone(v)
	}
	return out
}

// testVars are the variables without defaults, plus the delivery mode.
func testVars(delivery string) map[string]cty.Value {
	return map[string]cty.Value{
		"project_id":   cty.StringVal("devbot-test"),
		"supabase_url": cty.StringVal("https://abcd.supabase.co"),
		"delivery":     cty.StringVal(delivery),
	}
}

func evaluate(t *testing.T, files map[string][]byte, vars map[string]cty.Value) (*Infra, error) {
	t.Helper()
	m, err := Parse(files)
	if err != nil {
		return nil, err
	}
	ins, err := m.Evaluate(vars)
	if err != nil {
		return nil, err
	}
	return Extract(ins), nil
}

func TestTerraformMatchesCode(t *testing.T) {
	t.Parallel()
	yaml, err := os.ReadFile("../../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, delivery := range []string{"push", "eventarc"} {
		t.Run(delivery, func(t *testing.T) {
			t.Parallel()
			inf, err := evaluate(t, setup(t), testVars(delivery))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range Check(inf, FromCode()) {
				t.Error(p)
			}
			for _, p := range CheckCloudBuild(string(yaml), inf) {
				t.Error(p)
			}
			// The check saw what it should have seen.
			if len(inf.Services) != 7 || len(inf.Jobs) != 1 || len(inf.Topics) != 10 {
				t.Errorf("found %d services, %d jobs, %d topics; want 7, 1, 10", len(inf.Services), len(inf.Jobs), len(inf.Topics))
			}
			wantDeliveries := map[string][2]int{"push": {15, 0}, "eventarc": {10, 5}}[delivery]
			if len(inf.Subscriptions) != wantDeliveries[0] || len(inf.Triggers) != wantDeliveries[1] {
				t.Errorf("found %d subscriptions and %d triggers, want %v", len(inf.Subscriptions), len(inf.Triggers), wantDeliveries)
			}
		})
	}
}

func TestEvaluatedValues(t *testing.T) {
	t.Parallel()
	inf, err := evaluate(t, setup(t), testVars("push"))
	if err != nil {
		t.Fatal(err)
	}
	refine := inf.Services["devbot-refine-jobs"]
	if refine == nil {
		t.Fatal("no devbot-refine-jobs service")
	}
	sub := inf.Subscriptions["refine-jobs-push"]
	if sub == nil {
		t.Fatal("no refine-jobs-push subscription")
	}
	for _, c := range []struct{ name, got, want string }{
		{"FUNCTION_TARGET", refine.Target(), "RefineJobs"},
		{"HANDLER_TIMEOUT", refine.Env["HANDLER_TIMEOUT"].Value, "486s"},
		{"MAX_DELIVERY_ATTEMPTS", refine.Env["MAX_DELIVERY_ATTEMPTS"].Value, "5"},
		{"DATABASE_URL secret", refine.Env["DATABASE_URL"].Secret, "devbot-database-url"},
		{"SUPABASE_URL", refine.Env["SUPABASE_URL"].Value, "https://abcd.supabase.co"},
		{"account", refine.Account, "devbot-refine-jobs@devbot-test.iam.gserviceaccount.com"},
		{"push endpoint", sub.PushEndpoint, refine.URI},
		{"dead-letter topic", sub.DeadLetterTopic, "refine-jobs-dead-letter"},
		{"OIDC account", sub.OIDCAccount, "devbot-push-invoker@devbot-test.iam.gserviceaccount.com"},
		{"OIDC audience", sub.Audience, "devbot:devbot-test:devbot-refine-jobs"},
		{"PUSH_AUTH_AUDIENCE", refine.Env["PUSH_AUTH_AUDIENCE"].Value, "devbot:devbot-test:devbot-refine-jobs"},
		{"PUSH_AUTH_SERVICE_ACCOUNT", refine.Env["PUSH_AUTH_SERVICE_ACCOUNT"].Value, "devbot-push-invoker@devbot-test.iam.gserviceaccount.com"},
		{"custom audiences", strings.Join(refine.CustomAudiences, ","), "devbot:devbot-test:devbot-refine-jobs"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if refine.TimeoutSeconds != 540 || sub.AckDeadline != 570 || !sub.Ordering || sub.MaxAttempts != 5 {
		t.Errorf("timeout %d, ack deadline %d, ordering %t, attempts %d; want 540, 570, true, 5",
			refine.TimeoutSeconds, sub.AckDeadline, sub.Ordering, sub.MaxAttempts)
	}
	if inf.Subscriptions["stripe-events-push"].Ordering {
		t.Error("stripe-events-push orders messages; Stripe events carry no ordering key")
	}
	// BuildSteps is sized and delivered as RefineJobs.
	steps, stepsSub := inf.Services["devbot-build-steps"], inf.Subscriptions["build-steps-push"]
	if steps == nil || stepsSub == nil {
		t.Fatal("no devbot-build-steps service or build-steps-push subscription")
	}
	for _, c := range []struct{ name, got, want string }{
		{"FUNCTION_TARGET", steps.Target(), "BuildSteps"},
		{"HANDLER_TIMEOUT", steps.Env["HANDLER_TIMEOUT"].Value, refine.Env["HANDLER_TIMEOUT"].Value},
		{"REFINE_LEASE", steps.Env["REFINE_LEASE"].Value, refine.Env["REFINE_LEASE"].Value},
		{"TOPIC_BUILD_STEPS", steps.Env["TOPIC_BUILD_STEPS"].Value, "build-steps"},
		{"LLM_API_KEY secret", steps.Env["LLM_API_KEY"].Secret, "devbot-llm-api-key"},
		{"push endpoint", stepsSub.PushEndpoint, steps.URI},
		{"dead-letter topic", stepsSub.DeadLetterTopic, "build-steps-dead-letter"},
		{"OIDC audience", stepsSub.Audience, "devbot:devbot-test:devbot-build-steps"},
	} {
		if c.got != c.want {
			t.Errorf("build steps: %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, ok := steps.Env["ARCHITECT_API_KEY"]; ok {
		t.Error("BuildSteps mounts ARCHITECT_API_KEY although architect_api_key_secret is false")
	}
	if steps.TimeoutSeconds != 540 || stepsSub.AckDeadline != 570 || !stepsSub.Ordering || stepsSub.MaxAttempts != 5 {
		t.Errorf("build steps: timeout %d, ack deadline %d, ordering %t, attempts %d; want 540, 570, true, 5",
			steps.TimeoutSeconds, stepsSub.AckDeadline, stepsSub.Ordering, stepsSub.MaxAttempts)
	}
}

// TestArchitectKeySecret: with architect_api_key_secret, BuildSteps reads
// ARCHITECT_API_KEY from its own secret, which Terraform makes and lets
// BuildSteps (and only it) read; the whole still matches the code.
func TestArchitectKeySecret(t *testing.T) {
	t.Parallel()
	vars := testVars("push")
	vars["architect_api_key_secret"] = cty.True
	files := setup(t)
	m, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := m.Evaluate(vars)
	if err != nil {
		t.Fatal(err)
	}
	inf := Extract(ins)
	for _, p := range Check(inf, FromCode()) {
		t.Error(p)
	}
	if got := inf.Services["devbot-build-steps"].Env["ARCHITECT_API_KEY"].Secret; got != "devbot-architect-api-key" {
		t.Errorf("BuildSteps' ARCHITECT_API_KEY comes from secret %q, want devbot-architect-api-key", got)
	}
	var made bool
	var readers []string
	for _, i := range ins {
		switch {
		case i.Type == "google_secret_manager_secret" && i.Text("secret_id") == "devbot-architect-api-key":
			made = true
		case i.Type == "google_secret_manager_secret_iam_member" && i.Text("secret_id") == "devbot-architect-api-key":
			readers = append(readers, i.Text("member"))
		}
	}
	if !made || !slices.Equal(readers, []string{"serviceAccount:devbot-build-steps@devbot-test.iam.gserviceaccount.com"}) {
		t.Errorf("secret devbot-architect-api-key made: %t, readers %v; want made, read by devbot-build-steps only", made, readers)
	}
}

// replace changes the n-th (1-based; 0: every) occurrence of old in file.
type replace struct {
	file, old, new string
	n              int
}

func mutate(t *testing.T, files map[string][]byte, r replace) {
	t.Helper()
	s := string(files[r.file])
	if strings.Count(s, r.old) < max(r.n, 1) {
		t.Fatalf("%s does not contain %q (%d times): the mutation is stale", r.file, r.old, max(r.n, 1))
	}
	if r.n == 0 {
		s = strings.ReplaceAll(s, r.old, r.new)
	} else {
		i := -1
		for range r.n {
			i += 1 + strings.Index(s[i+1:], r.old)
		}
		s = s[:i] + r.new + s[i+len(r.old):]
	}
	files[r.file] = []byte(s)
}

// TestCheckFailsWhenTerraformChanges changes one name or setting in the
// Terraform only: the check must name the inconsistency. The code's own
// loader is left out, so the checks here carry the proof by themselves.
func TestCheckFailsWhenTerraformChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		delivery string
		edits    []replace
		want     string
	}{
		{"topic renamed", "push", []replace{{file: "locals.tf", old: `"stripe-events"`, new: `"stripe-event"`}},
			`topic "stripe-events" (the default of TOPIC_STRIPE_EVENTS) is not declared`},
		{"topic renamed (eventarc)", "eventarc", []replace{{file: "locals.tf", old: `"refine-jobs"`, new: `"refine-job"`}},
			`topic "refine-jobs" (the default of TOPIC_REFINE_JOBS) is not declared`},
		{"extra topic", "push", []replace{{file: "locals.tf", old: `    "refine-jobs"      = { ordered = true }`, new: `    "refine-jobs"      = { ordered = true }
    "unused-topic"     = { ordered = false }`}},
			`topic "unused-topic" is declared in Terraform but the code uses no such topic`},
		{"target renamed", "push", []replace{{file: "locals.tf", old: "TelegramUpdates", new: "TelegramUpdate"}, {file: "variables.tf", old: "TelegramUpdates", new: "TelegramUpdate"}},
			"FUNCTION_TARGET=TelegramUpdate is not a function the code registers"},
		{"target renamed: function left without service", "push", []replace{{file: "locals.tf", old: "StripeEvents", new: "StripeEvent"}, {file: "variables.tf", old: "StripeEvents", new: "StripeEvent"}},
			"function StripeEvents has no Cloud Run service"},
		{"required variable renamed", "push", []replace{{file: "locals.tf", old: "TELEGRAM_BOT_TOKEN ", new: "TELEGRAM_TOKEN     "}},
			"does not set TELEGRAM_BOT_TOKEN, which RefineJobs requires"},
		{"required variable renamed: unknown name", "push", []replace{{file: "locals.tf", old: "TELEGRAM_BOT_TOKEN ", new: "TELEGRAM_TOKEN     "}},
			"sets TELEGRAM_TOKEN, which the code does not read"},
		{"optional variable renamed", "push", []replace{{file: "locals.tf", old: "HANDLER_TIMEOUT ", new: "HANDLER_TIMEOUTS"}},
			"sets HANDLER_TIMEOUTS, which the code does not read"},
		{"storage variable dropped", "push", []replace{{file: "locals.tf", old: "    SUPABASE_URL       = var.supabase_url\n", new: ""}},
			"does not set SUPABASE_URL"},
		{"secret as plain value", "push", []replace{{file: "locals.tf", old: `TOPIC_STRIPE_EVENTS = "stripe-events"`, new: `TOPIC_STRIPE_EVENTS = "stripe-events"
        LLM_API_KEY         = "sk-plain"`}},
			"sets the secret LLM_API_KEY as a plain value"},
		{"dead-letter attempts differ from MAX_DELIVERY_ATTEMPTS", "push", []replace{{file: "pubsub.tf", old: "max_delivery_attempts = var.max_delivery_attempts", new: "max_delivery_attempts = 7"}},
			`MAX_DELIVERY_ATTEMPTS="5", but refine-jobs-push dead-letters after 7 attempts`},
		{"dead-letter attempts differ (eventarc)", "eventarc", []replace{{file: "eventarc.tf", old: "max_delivery_attempts     = var.max_delivery_attempts", new: "max_delivery_attempts     = 9"}},
			"dead-letters after 9 attempts"},
		{"ack deadline shorter than timeout", "push", []replace{{file: "locals.tf", old: "min(600, l.timeout_seconds + 30)", new: "l.timeout_seconds - 10"}},
			"refine-jobs-push: ack deadline 530s must cover devbot-refine-jobs's timeout of 540s"},
		{"handler timeout not below timeout", "push", []replace{{file: "locals.tf", old: "floor(l.timeout_seconds * 0.9)", new: "l.timeout_seconds"}},
			`HANDLER_TIMEOUT="540s" must be a duration below its timeout of 540s`},
		{"consumer public", "push", []replace{{file: "locals.tf", old: "public     = false", new: "public     = true", n: 1}},
			"consumer service devbot-telegram-updates is public"},
		{"webhook private", "push", []replace{{file: "locals.tf", old: "public     = true", new: "public     = false", n: 2}},
			"webhook service devbot-stripe-webhook (StripeWebhook) is not public"},
		{"push identity may not invoke", "push", []replace{{file: "run.tf", old: "member   = google_service_account.invoker.member", new: `member   = "serviceAccount:someone@example.com"`}},
			"the push identity \"devbot-push-invoker@devbot-test.iam.gserviceaccount.com\" may not invoke it"},
		{"subscription may expire", "push", []replace{{file: "pubsub.tf", old: "  expiration_policy {\n    ttl = \"\"\n  }\n", new: "", n: 2}},
			"refine-jobs-push may expire"},
		{"no retry policy", "push", []replace{{file: "pubsub.tf", old: "  retry_policy {\n    minimum_backoff = var.retry_minimum_backoff\n    maximum_backoff = var.retry_maximum_backoff\n  }\n", new: ""}},
			"has no retry policy"},
		{"ordering off", "push", []replace{{file: "pubsub.tf", old: "enable_message_ordering = local.topics[each.value.consumes].ordered", new: "enable_message_ordering = false"}},
			"telegram-updates-push: enable_message_ordering=false, but ordering keys are used: true"},
		{"dead-letter topic without subscription", "push", []replace{{file: "pubsub.tf", old: "topic                      = google_pubsub_topic.dead_letter[each.key].id", new: "topic                      = google_pubsub_topic.topic[each.key].id"}},
			`dead-letter topic "stripe-events-dead-letter" has no subscription`},
		{"dead letters not pushed to the consumer", "eventarc", []replace{{file: "pubsub.tf", old: `push_endpoint = "${google_cloud_run_v2_service.function[each.key].uri}/dead-letter"`, new: `push_endpoint = google_cloud_run_v2_service.function[each.key].uri`}},
			`dead-letter topic "refine-jobs-dead-letter" does not push to devbot-refine-jobs/dead-letter`},
		{"no dead-letter grant", "push", []replace{{file: "pubsub.tf", old: "for_each = local.topics\n  project  = var.project_id\n  topic    = google_pubsub_topic.dead_letter[each.key].name", new: "for_each = {}\n  project  = var.project_id\n  topic    = google_pubsub_topic.dead_letter[each.key].name"}},
			"the Pub/Sub service agent may not publish to it"},
		{"no publisher grant", "push", []replace{{file: "pubsub.tf", old: "for_each = local.topic_publishers", new: "for_each = {}"}},
			`devbot-telegram-webhook@devbot-test.iam.gserviceaccount.com may not publish to topic "telegram-updates"`},
		{"two deliveries", "push", []replace{{file: "eventarc.tf", old: `if var.delivery == "eventarc"`, new: `if var.delivery == "push"`}},
			"through 2 subscriptions or triggers, want exactly 1"},
		{"eventarc subscription left with defaults", "eventarc", []replace{{file: "eventarc.tf", old: "for_each = google_eventarc_trigger.consumer\n\n  input", new: "for_each = {}\n\n  input"}},
			"no retry and dead-letter settings are applied to its subscription"},
		{"push subscription renamed", "push", []replace{{file: "pubsub.tf", old: `name     = "${each.value.consumes}-push"`, new: `name     = "${each.value.consumes}-subscription"`}},
			"devbot dev and the guide call refine-jobs's push subscription refine-jobs-push"},
		{"dead-letter topic renamed", "eventarc", []replace{{file: "pubsub.tf", old: `name     = "${each.key}-dead-letter"`, new: `name     = "${each.key}-dlq"`}},
			`dead-letters to "stripe-events-dlq"; devbot dev and the guide use "stripe-events-dead-letter"`},
		{"no push audience", "push", []replace{{file: "locals.tf", old: "        PUSH_AUTH_AUDIENCE        = lookup(local.push_audience, name, \"\")\n", new: ""}},
			"consumer service devbot-stripe-events (StripeEvents) sets no PUSH_AUTH_AUDIENCE: in production it refuses to start"},
		{"no push service account", "eventarc", []replace{{file: "locals.tf", old: "        PUSH_AUTH_SERVICE_ACCOUNT = google_service_account.invoker.email\n", new: ""}},
			"consumer service devbot-refine-jobs (RefineJobs) sets no PUSH_AUTH_SERVICE_ACCOUNT"},
		{"push audience is the service URL (the default)", "push", []replace{{file: "pubsub.tf", old: "audience              = local.push_audience[each.key]", new: "audience              = google_cloud_run_v2_service.function[each.key].uri", n: 1}},
			`refine-jobs-push: OIDC audience "https://devbot-refine-jobs.run.app", but devbot-refine-jobs checks PUSH_AUTH_AUDIENCE="devbot:devbot-test:devbot-refine-jobs"`},
		{"dead-letter push audience differs", "eventarc", []replace{{file: "pubsub.tf", old: "audience              = local.push_audience[each.key]", new: `audience              = "elsewhere"`, n: 2}},
			`stripe-events-dead-letter-push: OIDC audience "elsewhere", but devbot-stripe-events checks PUSH_AUTH_AUDIENCE`},
		{"push token signed by another account", "push", []replace{{file: "pubsub.tf", old: "service_account_email = google_service_account.invoker.email", new: `service_account_email = "other@devbot-test.iam.gserviceaccount.com"`, n: 1}},
			`refine-jobs-push: OIDC token of "other@devbot-test.iam.gserviceaccount.com", but devbot-refine-jobs checks PUSH_AUTH_SERVICE_ACCOUNT`},
		{"audience not accepted by Cloud Run IAM", "push", []replace{{file: "run.tf", old: "custom_audiences = each.value.consumes != \"\" ? [local.push_audience[each.key]] : null", new: "custom_audiences = null"}},
			"consumer service devbot-telegram-updates: PUSH_AUTH_AUDIENCE=\"devbot:devbot-test:devbot-telegram-updates\" is neither its URL nor one of its custom_audiences"},
		{"eventarc token keeps Eventarc's audience", "eventarc", []replace{{file: "eventarc.tf", old: "push_auth_audience        = local.push_audience[each.key]", new: `push_auth_audience        = ""`}},
			`devbot-refine-jobs-trigger's subscription: OIDC audience "", but devbot-refine-jobs checks PUSH_AUTH_AUDIENCE`},
		{"eventarc token of another account", "eventarc", []replace{{file: "eventarc.tf", old: "push_auth_service_account = google_service_account.invoker.email", new: `push_auth_service_account = "x@y.iam.gserviceaccount.com"`}},
			`devbot-stripe-events-trigger's subscription: OIDC token of "x@y.iam.gserviceaccount.com"`},
		{"lease too long for the handler timeout", "push", []replace{{file: "variables.tf", old: "concurrency = 8, timeout_seconds = 540", new: "concurrency = 8, timeout_seconds = 60"}},
			"more than half of HANDLER_TIMEOUT"},
		{"sweeper leaves the lease to its default", "push", []replace{{file: "locals.tf", old: `env = merge(local.data_env, { REFINE_LEASE = "${var.refine_lease_seconds}s" })`, new: `env = local.data_env`}},
			"sets no REFINE_LEASE: RefineJobs, BuildSteps and the Sweeper must all set it"},
		{"build steps leave the lease to its default", "push", []replace{{file: "locals.tf", old: "        TOPIC_BUILD_STEPS = \"build-steps\"\n        REFINE_LEASE      = \"${var.refine_lease_seconds}s\"\n      })\n      # ARCHITECT", new: "        TOPIC_BUILD_STEPS = \"build-steps\"\n      })\n      # ARCHITECT"}},
			"service devbot-build-steps (BuildSteps) sets no REFINE_LEASE"},
		{"build steps publish to their own topic without a grant", "push", []replace{{file: "locals.tf", old: `publishes  = ["build-steps"]`, new: `publishes  = []`}},
			`devbot-build-steps@devbot-test.iam.gserviceaccount.com may not publish to topic "build-steps"`},
		{"build-steps ordering off", "push", []replace{{file: "locals.tf", old: `"build-steps"      = { ordered = true }`, new: `"build-steps"      = { ordered = false }`}},
			"build-steps-push: enable_message_ordering=false, but ordering keys are used: true"},
		{"sweeper and consumer disagree on the lease", "push", []replace{{file: "locals.tf", old: `REFINE_LEASE      = "${var.refine_lease_seconds}s"`, new: `REFINE_LEASE      = "45s"`}},
			"the sweeper would judge leases by another length"},
		{"migrate job gone", "push", []replace{{file: "run.tf", old: `args  = ["migrate"]`, new: `args  = ["serve"]`}},
			"no Cloud Run job runs devbot migrate"},
		{"migrate job without database", "push", []replace{{file: "run.tf", old: `name = "DATABASE_URL"`, new: `name = "DATABASE_URI"`}},
			"job devbot-migrate does not set DATABASE_URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := setup(t)
			for _, e := range c.edits {
				mutate(t, files, e)
			}
			inf, err := evaluate(t, files, testVars(c.delivery))
			if err != nil {
				t.Fatalf("the mutated Terraform does not evaluate: %v", err)
			}
			code := FromCode()
			code.Load = nil
			problems := Check(inf, code)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("no problem mentions %q; got:\n%s", c.want, problems.Error())
			}
		})
	}
}

// TestCheckFailsWhenCodeChanges changes one name in the code's facts only.
func TestCheckFailsWhenCodeChanges(t *testing.T) {
	t.Parallel()
	renameVar := func(from, to string) func(*Code) {
		return func(c *Code) {
			i := slices.IndexFunc(c.Vars, func(v config.Var) bool { return v.Name == from })
			c.Vars[i].Name = to
		}
	}
	cases := []struct {
		name   string
		change func(*Code)
		want   string
	}{
		{"target renamed", func(c *Code) { c.Targets[3].Name = "RefineJobsV2" },
			"FUNCTION_TARGET=RefineJobs is not a function the code registers"},
		{"target added", func(c *Code) { c.Targets = append(c.Targets, Target{Name: "Scheduler"}) },
			"function Scheduler has no Cloud Run service"},
		{"topic renamed", func(c *Code) { c.Topics["TOPIC_STRIPE_EVENTS"] = "stripe-events-v2" },
			`topic "stripe-events-v2" (the default of TOPIC_STRIPE_EVENTS) is not declared`},
		{"required variable renamed", renameVar("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_SECRET_TOKEN"),
			"does not set TELEGRAM_SECRET_TOKEN, which TelegramWebhook requires"},
		{"optional variable renamed", renameVar("HANDLER_TIMEOUT", "HANDLER_DEADLINE"),
			"sets HANDLER_TIMEOUT, which the code does not read"},
		{"variable becomes secret", func(c *Code) {
			i := slices.IndexFunc(c.Vars, func(v config.Var) bool { return v.Name == "SUPABASE_URL" })
			c.Vars[i].Secret = true
		}, "sets the secret SUPABASE_URL as a plain value"},
		{"new required variable", func(c *Code) {
			c.Vars = append(c.Vars, config.Var{Name: "AUDIT_KEY", Secret: true, Required: []config.Group{config.Database}})
		}, "does not set AUDIT_KEY, which StripeEvents requires"},
		{"function needs another group", func(c *Code) { c.Targets[4].Needs = append(c.Targets[4].Needs, config.StripeAPI) },
			"does not set STRIPE_SECRET_KEY, which StripeEvents requires"},
		{"function needs storage", func(c *Code) { c.Targets[1].Needs = append(c.Targets[1].Needs, config.Storage) },
			"does not set SUPABASE_URL, which StripeWebhook requires"},
		{"topic becomes ordered", func(c *Code) { c.Ordered["TOPIC_STRIPE_EVENTS"] = true },
			"stripe-events-push: enable_message_ordering=false, but ordering keys are used: true"},
		{"consumer reads another topic", func(c *Code) { c.Consumes["StripeEvents"] = "TOPIC_REFINE_JOBS" },
			`subscription stripe-events-push pushes topic "stripe-events" to devbot-stripe-events, which consumes "refine-jobs"`},
		{"migrate needs more", func(c *Code) { c.MigrateNeeds = append(c.MigrateNeeds, config.Crypto) },
			"job devbot-migrate does not set API_KEY_ENCRYPTION_KEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inf, err := evaluate(t, setup(t), testVars("push"))
			if err != nil {
				t.Fatal(err)
			}
			code := FromCode()
			code.Load = nil
			// Deep enough copies for the changes above.
			code.Vars = slices.Clone(code.Vars)
			code.Targets = slices.Clone(code.Targets)
			for i := range code.Targets {
				code.Targets[i].Needs = slices.Clone(code.Targets[i].Needs)
			}
			code.Topics = clone(code.Topics)
			code.Ordered = clone(code.Ordered)
			code.Consumes = clone(code.Consumes)
			if got := Check(inf, code); len(got) != 0 {
				t.Fatalf("unchanged code already fails: %s", got.Error())
			}
			c.change(&code)
			problems := Check(inf, code)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("no problem mentions %q; got:\n%s", c.want, problems.Error())
			}
		})
	}
}

func clone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestCodeLoaderJudgesValues: a value Terraform sets that the code's own
// configuration loader refuses fails the check.
func TestCodeLoaderJudgesValues(t *testing.T) {
	t.Parallel()
	vars := testVars("push")
	vars["database_exec_mode"] = cty.StringVal("transaction")
	inf, err := evaluate(t, setup(t), vars)
	if err != nil {
		t.Fatal(err)
	}
	problems := Check(inf, FromCode())
	if !slices.ContainsFunc(problems, func(p string) bool {
		return strings.Contains(p, "loader refuses") && strings.Contains(p, "DATABASE_EXEC_MODE")
	}) {
		t.Errorf("DATABASE_EXEC_MODE=transaction passed; problems:\n%s", problems.Error())
	}
}

// TestEvaluateRejects: what terraform validate would refuse is an error
// here too, not a silently unknown value.
func TestEvaluateRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit replace
		want string
	}{
		{"misspelt local", replace{file: "run.tf", old: "local.function_env[each.key]", new: "local.functon_env[each.key]"}, "functon_env"},
		{"misspelt variable", replace{file: "pubsub.tf", old: "var.retry_minimum_backoff", new: "var.retry_min_backoff", n: 1}, "retry_min_backoff"},
		{"unknown resource attribute", replace{file: "pubsub.tf", old: "google_cloud_run_v2_service.function[each.key].uri", new: "google_cloud_run_v2_service.function[each.key].url", n: 1}, "url"},
		{"unknown for_each key", replace{file: "outputs.tf", old: `function["StripeWebhook"]`, new: `function["StripeWebhooks"]`}, "outputs.tf:8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := setup(t)
			mutate(t, files, c.edit)
			_, err := evaluate(t, files, testVars("push"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
	cycle := setup(t)
	mutate(t, cycle, replace{file: "locals.tf", old: "common_env = merge({", new: "common_env = merge(local.function_env, {"})
	if _, err := evaluate(t, cycle, testVars("push")); err == nil || !strings.Contains(err.Error(), "cycle: ") {
		t.Errorf("a cycle between locals: error %v", err)
	}
	if _, err := evaluate(t, setup(t), map[string]cty.Value{"no_such_variable": cty.True}); err == nil {
		t.Error("an unknown variable was accepted")
	}
}

func TestCloudBuildNamesEveryService(t *testing.T) {
	t.Parallel()
	inf, err := evaluate(t, setup(t), testVars("push"))
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile("../../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.ReplaceAll(string(yaml), "devbot-refine-jobs", "devbot-refine")
	if p := CheckCloudBuild(broken, inf); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "devbot-refine-jobs") }) {
		t.Errorf("a cloudbuild.yaml without devbot-refine-jobs passed: %v", p)
	}
}

// A rollback pins traffic to a revision; a build that only deploys would
// then leave every later revision at 0% (issue 13 item 11). The build
// routes traffic back to the latest revision after each deploy.
func TestCloudBuildRoutesTrafficToLatest(t *testing.T) {
	t.Parallel()
	inf, err := evaluate(t, setup(t), testVars("push"))
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile("../../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p := CheckCloudBuild(string(yaml), inf); len(p) != 0 {
		t.Errorf("cloudbuild.yaml: %s", p.Error())
	}
	broken := strings.ReplaceAll(string(yaml), "--to-latest", "")
	if p := CheckCloudBuild(broken, inf); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "--to-latest") }) {
		t.Errorf("a cloudbuild.yaml that leaves a pinned revision in place passed: %v", p)
	}
}
