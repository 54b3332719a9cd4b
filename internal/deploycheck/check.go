package deploycheck

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
)

// maxAckDeadline is Pub/Sub's largest ack deadline (and push timeout).
const maxAckDeadline = 600

// Check compares the Terraform with the code and names every
// inconsistency.
func Check(inf *Infra, code Code) Problems {
	c := &checker{inf: inf, code: code}
	c.topics()
	c.targets()
	for _, name := range sortedKeys(inf.Services) {
		s := inf.Services[name]
		t, ok := code.target(s.Target())
		if !ok {
			continue // reported by targets
		}
		c.env(s, t.Name, t.Needs)
		c.publishing(s, t.Name)
		if _, consumer := code.Consumes[t.Name]; consumer {
			c.consumer(s, t.Name)
		} else {
			c.public(s, t.Name)
		}
	}
	c.migrateJob()
	return c.problems
}

type checker struct {
	inf      *Infra
	code     Code
	problems Problems
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// topics: every topic the code uses is declared; every declared topic is
// used by the code or is a dead-letter topic.
func (c *checker) topics() {
	used := map[string]bool{}
	for _, v := range sortedKeys(c.code.Topics) {
		name := c.code.Topics[v]
		used[name] = true
		if !c.inf.Topics[name] {
			c.addf("topic %q (the default of %s) is not declared in Terraform", name, v)
		}
	}
	for _, s := range c.inf.Subscriptions {
		used[s.DeadLetterTopic] = true
	}
	for _, s := range c.inf.EventarcSettings {
		used[s.DeadLetterTopic] = true
	}
	for _, t := range sortedKeys(c.inf.Topics) {
		if !used[t] {
			c.addf("topic %q is declared in Terraform but the code uses no such topic and no subscription dead-letters to it", t)
		}
	}
}

// targets: every service serves a registered function; every function has
// exactly one service.
func (c *checker) targets() {
	count := map[string]int{}
	for _, name := range sortedKeys(c.inf.Services) {
		s := c.inf.Services[name]
		env, ok := s.Env["FUNCTION_TARGET"]
		switch {
		case !ok || env.Secret != "":
			c.addf("service %s sets no plain FUNCTION_TARGET", name)
			continue
		case !env.Known:
			c.addf("service %s: FUNCTION_TARGET is not known before apply", name)
			continue
		}
		if _, ok := c.code.target(env.Value); !ok {
			c.addf("service %s: FUNCTION_TARGET=%s is not a function the code registers", name, env.Value)
		}
		count[env.Value]++
	}
	for _, t := range c.code.Targets {
		switch count[t.Name] {
		case 0:
			c.addf("function %s has no Cloud Run service in Terraform", t.Name)
		case 1:
		default:
			c.addf("function %s has %d Cloud Run services in Terraform", t.Name, count[t.Name])
		}
	}
}

// env: the service sets every variable its function requires, only
// variables the code reads, secrets only from Secret Manager, and values
// the code's own loader accepts.
func (c *checker) env(s *Service, target string, needs []config.Group) {
	for _, name := range sortedKeys(s.Env) {
		e := s.Env[name]
		v, ok := c.code.variable(name)
		if !ok {
			c.addf("service %s sets %s, which the code does not read", s.Name, name)
			continue
		}
		if v.Secret && e.Secret == "" {
			c.addf("service %s sets the secret %s as a plain value; mount it from Secret Manager", s.Name, name)
		}
	}
	for _, name := range c.missing(needs, s.Env) {
		c.addf("service %s (%s) does not set %s, which %s requires", s.Name, target, name, target)
	}
	if e := s.Env["ENVIRONMENT"]; e.Known && e.Value != "production" {
		c.addf("service %s: ENVIRONMENT is %q, want production", s.Name, e.Value)
	}
	if c.code.Load != nil {
		if _, err := c.code.Load(lookup(s.Env), needs...); err != nil {
			c.addf("service %s (%s): the code's configuration loader refuses its environment: %v", s.Name, target, err)
		}
	}
}

// missing lists the variables needs requires that env does not set, with
// the exceptions config.Load makes.
func (c *checker) missing(needs []config.Group, env map[string]EnvVar) []string {
	var out []string
	set := func(name string) bool { _, ok := env[name]; return ok }
	for _, v := range c.code.Vars {
		if !slices.ContainsFunc(v.Required, func(g config.Group) bool { return slices.Contains(needs, g) }) {
			continue
		}
		switch {
		case v.Default != "" || set(v.Name):
		case v.Name == "DATABASE_URL" && set("POSTGRES_HOST"):
		case v.Name == "STRIPE_SECRET_KEY" && env["MOCK_STRIPE_PAYMENTS"].Value == "true":
		default:
			out = append(out, v.Name)
		}
	}
	if slices.Contains(needs, config.Storage) {
		backend := env["STORAGE_BACKEND"].Value
		if _, ok := env["STORAGE_BACKEND"]; !ok {
			if v, ok := c.code.variable("STORAGE_BACKEND"); ok {
				backend = v.Default
			}
		}
		want := []string{"SUPABASE_URL", "SUPABASE_KEY"}
		if backend == "local" {
			want = []string{"STORAGE_DIR"}
		}
		for _, name := range want {
			if !set(name) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// lookup serves a service's environment to config.Load, with stand-ins of
// the right shape for secrets and values known only at apply time.
func lookup(env map[string]EnvVar) func(string) (string, bool) {
	return func(name string) (string, bool) {
		e, ok := env[name]
		if !ok {
			return "", false
		}
		if e.Secret == "" && e.Known {
			return e.Value, true
		}
		switch {
		case name == "DATABASE_URL":
			return "postgres://devbot@db.invalid:6543/postgres", true
		case name == "API_KEY_ENCRYPTION_KEY":
			return base64.StdEncoding.EncodeToString(make([]byte, 32)), true
		case name == "SUPABASE_KEY": // config checks the keys' kinds by prefix
			return "sb_secret_placeholder", true
		case name == "STRIPE_SECRET_KEY":
			return "sk_test_placeholder", true
		case name == "STRIPE_WEBHOOK_SECRET":
			return "whsec_placeholder", true
		case strings.HasSuffix(name, "_URL"):
			return "https://placeholder.invalid", true
		}
		return "placeholder", true
	}
}

// publishing: each topic the function publishes to is declared and the
// function's identity may publish to it.
func (c *checker) publishing(s *Service, target string) {
	for _, v := range c.code.Publishes[target] {
		topic := c.topicName(s, v)
		if !c.inf.Topics[topic] {
			c.addf("service %s publishes to topic %q (%s), which Terraform does not declare", s.Name, topic, v)
			continue
		}
		if !slices.Contains(c.inf.Grants["roles/pubsub.publisher"][topic], "serviceAccount:"+s.Account) {
			c.addf("service %s's account %s may not publish to topic %q", s.Name, s.Account, topic)
		}
	}
}

// topicName is the topic a service uses for the variable v: its own
// setting, or the code's default.
func (c *checker) topicName(s *Service, v string) string {
	if e, ok := s.Env[v]; ok && e.Known {
		return e.Value
	}
	return c.code.Topics[v]
}

func (c *checker) public(s *Service, target string) {
	if !slices.Contains(c.inf.Grants["roles/run.invoker"][s.Name], "allUsers") {
		c.addf("webhook service %s (%s) is not public: Telegram and Stripe could not call it", s.Name, target)
	}
}

// consumer: exactly one delivery (a push subscription or an Eventarc
// trigger) brings the function's topic to it, with the settings that make
// at-least-once delivery safe.
func (c *checker) consumer(s *Service, target string) {
	topic := c.topicName(s, c.code.Consumes[target])
	invokers := c.inf.Grants["roles/run.invoker"][s.Name]
	if slices.Contains(invokers, "allUsers") {
		c.addf("consumer service %s is public; only the push identity may invoke it", s.Name)
	}
	var deliveries []*Subscription
	var accounts []string
	for _, name := range sortedKeys(c.inf.Subscriptions) {
		sub := c.inf.Subscriptions[name]
		if sub.PushEndpoint != s.URI {
			continue
		}
		if sub.Topic != topic {
			c.addf("subscription %s pushes topic %q to %s, which consumes %q", sub.Name, sub.Topic, s.Name, topic)
			continue
		}
		if c.code.PushSubscription != nil && sub.Name != c.code.PushSubscription(topic) {
			c.addf("subscription %s: devbot dev and the guide call %s's push subscription %s", sub.Name, topic, c.code.PushSubscription(topic))
		}
		if sub.Audience != s.URI {
			c.addf("subscription %s: OIDC audience %q, want the service URL", sub.Name, sub.Audience)
		}
		if sub.Ordering != c.code.Ordered[c.code.Consumes[target]] {
			c.addf("subscription %s: enable_message_ordering=%t, but ordering keys are used: %t", sub.Name, sub.Ordering, c.code.Ordered[c.code.Consumes[target]])
		}
		if len(c.inf.Grants["roles/pubsub.subscriber"][sub.Name]) == 0 {
			c.addf("subscription %s: the Pub/Sub service agent may not dead-letter from it (no roles/pubsub.subscriber)", sub.Name)
		}
		deliveries = append(deliveries, sub)
		accounts = append(accounts, sub.OIDCAccount)
	}
	for _, t := range c.inf.Triggers {
		if t.Service != s.Name {
			continue
		}
		if t.Topic != topic {
			c.addf("Eventarc trigger %s sends topic %q to %s, which consumes %q", t.Name, t.Topic, s.Name, topic)
			continue
		}
		settings, ok := c.inf.EventarcSettings[t.Key]
		if !ok {
			c.addf("Eventarc trigger %s: no retry and dead-letter settings are applied to its subscription", t.Name)
			continue
		}
		settings.Name = t.Name + "'s subscription"
		deliveries = append(deliveries, settings)
		accounts = append(accounts, t.Account)
	}
	if len(deliveries) != 1 {
		c.addf("consumer %s (%s) receives topic %q through %d subscriptions or triggers, want exactly 1", s.Name, target, topic, len(deliveries))
		return
	}
	d, account := deliveries[0], accounts[0]
	if c.code.DeadLetterTopic != nil && d.DeadLetterTopic != c.code.DeadLetterTopic(topic) {
		c.addf("%s dead-letters to %q; devbot dev and the guide use %q", d.Name, d.DeadLetterTopic, c.code.DeadLetterTopic(topic))
	}
	if account == "" || !slices.Contains(invokers, "serviceAccount:"+account) {
		c.addf("consumer %s: the push identity %q may not invoke it", s.Name, account)
	}
	c.deliverySettings(s, d)
}

func (c *checker) deliverySettings(s *Service, d *Subscription) {
	if d.AckDeadline < s.TimeoutSeconds || d.AckDeadline > maxAckDeadline {
		c.addf("%s: ack deadline %ds must cover %s's timeout of %ds and be at most %ds", d.Name, d.AckDeadline, s.Name, s.TimeoutSeconds, maxAckDeadline)
	}
	if !d.HasRetryPolicy {
		c.addf("%s has no retry policy", d.Name)
	}
	if !d.NeverExpires {
		c.addf("%s may expire (set expiration_policy { ttl = \"\" })", d.Name)
	}
	switch {
	case d.DeadLetterTopic == "":
		c.addf("%s has no dead-letter policy", d.Name)
	case !c.inf.Topics[d.DeadLetterTopic]:
		c.addf("%s dead-letters to topic %q, which Terraform does not declare", d.Name, d.DeadLetterTopic)
	default:
		onTopic := func(match func(*Subscription) bool) bool {
			return slices.ContainsFunc(sortedKeys(c.inf.Subscriptions), func(n string) bool {
				sub := c.inf.Subscriptions[n]
				return sub.Topic == d.DeadLetterTopic && match(sub)
			})
		}
		if !onTopic(func(sub *Subscription) bool { return sub.PushEndpoint == "" }) {
			c.addf("dead-letter topic %q has no subscription: its messages would be lost (a pull subscription keeps them for devbot replay)", d.DeadLetterTopic)
		}
		if c.code.DeadLetterPath != "" && !onTopic(func(sub *Subscription) bool {
			return sub.PushEndpoint == s.URI+c.code.DeadLetterPath && sub.OIDCAccount != ""
		}) {
			c.addf("dead-letter topic %q does not push to %s%s: a job dead-lettered without a delivery attempt (Eventarc) would keep its credits held",
				d.DeadLetterTopic, s.Name, c.code.DeadLetterPath)
		}
		if len(c.inf.Grants["roles/pubsub.publisher"][d.DeadLetterTopic]) == 0 {
			c.addf("dead-letter topic %q: the Pub/Sub service agent may not publish to it", d.DeadLetterTopic)
		}
	}
	if got := s.Env["MAX_DELIVERY_ATTEMPTS"].Value; got != strconv.Itoa(d.MaxAttempts) {
		c.addf("service %s: MAX_DELIVERY_ATTEMPTS=%q, but %s dead-letters after %d attempts", s.Name, got, d.Name, d.MaxAttempts)
	}
	if e, ok := s.Env["HANDLER_TIMEOUT"]; ok && e.Known {
		h, err := time.ParseDuration(e.Value)
		if err != nil || h >= time.Duration(s.TimeoutSeconds)*time.Second {
			c.addf("service %s: HANDLER_TIMEOUT=%q must be a duration below its timeout of %ds", s.Name, e.Value, s.TimeoutSeconds)
		}
	} else if !ok {
		c.addf("service %s sets no HANDLER_TIMEOUT below its timeout of %ds", s.Name, s.TimeoutSeconds)
	}
}

// migrateJob: a Cloud Run job runs `devbot migrate` with what it needs.
func (c *checker) migrateJob() {
	for _, name := range sortedKeys(c.inf.Jobs) {
		j := c.inf.Jobs[name]
		if !slices.Equal(j.Args, []string{"migrate"}) {
			continue
		}
		for _, v := range c.missing(c.code.MigrateNeeds, j.Env) {
			c.addf("job %s does not set %s, which devbot migrate requires", j.Name, v)
		}
		for _, n := range sortedKeys(j.Env) {
			if v, ok := c.code.variable(n); !ok {
				c.addf("job %s sets %s, which the code does not read", j.Name, n)
			} else if v.Secret && j.Env[n].Secret == "" {
				c.addf("job %s sets the secret %s as a plain value", j.Name, n)
			}
		}
		return
	}
	c.addf("no Cloud Run job runs devbot migrate (args = [\"migrate\"])")
}

// CheckCloudBuild checks that cloudbuild.yaml builds from infra/Dockerfile
// and deploys every service and runs the migration job by the names
// Terraform gives them.
func CheckCloudBuild(yaml string, inf *Infra) Problems {
	var p Problems
	if !strings.Contains(yaml, "infra/Dockerfile") {
		p = append(p, "cloudbuild.yaml does not build infra/Dockerfile")
	}
	for _, name := range sortedKeys(inf.Services) {
		if !strings.Contains(yaml, name) {
			p = append(p, fmt.Sprintf("cloudbuild.yaml does not deploy service %s", name))
		}
	}
	for _, name := range sortedKeys(inf.Jobs) {
		if !strings.Contains(yaml, name) {
			p = append(p, fmt.Sprintf("cloudbuild.yaml does not run job %s", name))
		}
	}
	return p
}

// Problems is a list of inconsistencies, one sentence each.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Err returns p as an error, or nil when it is empty.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}
