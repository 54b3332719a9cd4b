package deploycheck

import (
	"math/big"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Infra is what the evaluated Terraform declares, reduced to what the
// checks compare with the code.
type Infra struct {
	Topics        map[string]bool          // topic names
	Subscriptions map[string]*Subscription // by name
	Services      map[string]*Service      // by Cloud Run service name
	Jobs          map[string]*Service      // Cloud Run jobs, by name
	Triggers      []*Trigger               // Eventarc
	// EventarcSettings are the settings applied to the subscription each
	// Eventarc trigger creates, by the trigger's for_each key.
	EventarcSettings map[string]*Subscription
	// Grants: role => resource (topic, subscription or service name) =>
	// members ("?" for a member Terraform computes, such as the Pub/Sub
	// service agent, whose email holds the project number).
	Grants map[string]map[string][]string
}

// Service is a Cloud Run service or job.
type Service struct {
	Name           string
	Key            string // the for_each key, "" without one
	URI            string
	Account        string // service account email
	TimeoutSeconds int
	// CustomAudiences are the OIDC audiences Cloud Run IAM accepts besides
	// the service's own URLs.
	CustomAudiences []string
	Args            []string
	Env             map[string]EnvVar
}

// Target is the service's FUNCTION_TARGET.
func (s *Service) Target() string { return s.Env["FUNCTION_TARGET"].Value }

// EnvVar is one environment variable of a service.
type EnvVar struct {
	Value  string // plain value; "" when it comes from a secret or is unknown
	Known  bool   // Value is known at plan time
	Secret string // Secret Manager secret id, for a secret_key_ref
}

// Subscription is a Pub/Sub subscription (or the settings applied to the
// one an Eventarc trigger makes).
type Subscription struct {
	Name            string
	Key             string
	Topic           string // topic name
	PushEndpoint    string
	OIDCAccount     string
	Audience        string
	AckDeadline     int
	Ordering        bool
	DeadLetterTopic string // topic name
	MaxAttempts     int
	HasRetryPolicy  bool
	NeverExpires    bool
}

// Trigger is an Eventarc trigger.
type Trigger struct {
	Name, Key, Topic, Service, Account string
}

// Extract reduces evaluated instances to Infra.
func Extract(instances []*Instance) *Infra {
	inf := &Infra{Topics: map[string]bool{}, Subscriptions: map[string]*Subscription{},
		Services: map[string]*Service{}, Jobs: map[string]*Service{},
		EventarcSettings: map[string]*Subscription{}, Grants: map[string]map[string][]string{}}
	key := func(i *Instance) string {
		if i.Key != cty.NilVal && i.Key.Type() == cty.String {
			return i.Key.AsString()
		}
		return ""
	}
	for _, i := range instances {
		switch i.Type {
		case "google_pubsub_topic":
			inf.Topics[i.Text("name")] = true
		case "google_pubsub_subscription":
			s := &Subscription{Name: i.Text("name"), Key: key(i), Topic: lastSegment(i.Text("topic")),
				AckDeadline: number(i.Attrs["ack_deadline_seconds"]), Ordering: boolean(i.Attrs["enable_message_ordering"])}
			if s.AckDeadline == 0 {
				s.AckDeadline = 10 // Pub/Sub's default
			}
			if p := i.Block("push_config"); p != nil {
				s.PushEndpoint = p.Text("push_endpoint")
				if o := p.Block("oidc_token"); o != nil {
					s.OIDCAccount, s.Audience = o.Text("service_account_email"), o.Text("audience")
				}
			}
			if d := i.Block("dead_letter_policy"); d != nil {
				s.DeadLetterTopic = lastSegment(d.Text("dead_letter_topic"))
				s.MaxAttempts = number(d.Attrs["max_delivery_attempts"])
			}
			s.HasRetryPolicy = i.Block("retry_policy") != nil
			if e := i.Block("expiration_policy"); e != nil {
				_, set := e.Attrs["ttl"]
				s.NeverExpires = set && e.Text("ttl") == ""
			}
			inf.Subscriptions[s.Name] = s
		case "google_cloud_run_v2_service":
			tmpl := i.Block("template")
			s := &Service{Name: i.Text("name"), Key: key(i), URI: "https://" + i.Text("name") + ".run.app",
				CustomAudiences: texts(i.Attrs["custom_audiences"])}
			if tmpl != nil {
				s.Account = tmpl.Text("service_account")
				s.TimeoutSeconds = seconds(tmpl.Text("timeout"))
				s.Env, s.Args = containerEnv(tmpl.Block("containers"))
			}
			if s.TimeoutSeconds == 0 {
				s.TimeoutSeconds = 300 // Cloud Run's default
			}
			inf.Services[s.Name] = s
		case "google_cloud_run_v2_job":
			s := &Service{Name: i.Text("name"), Key: key(i)}
			if tmpl := i.Block("template", "template"); tmpl != nil {
				s.Account = tmpl.Text("service_account")
				s.TimeoutSeconds = seconds(tmpl.Text("timeout"))
				s.Env, s.Args = containerEnv(tmpl.Block("containers"))
			}
			inf.Jobs[s.Name] = s
		case "google_eventarc_trigger":
			t := &Trigger{Name: i.Text("name"), Key: key(i), Account: i.Text("service_account")}
			if p := i.Block("transport", "pubsub"); p != nil {
				t.Topic = lastSegment(p.Text("topic"))
			}
			if d := i.Block("destination", "cloud_run_service"); d != nil {
				t.Service = d.Text("service")
			}
			inf.Triggers = append(inf.Triggers, t)
		case "terraform_data":
			in, ok := i.Attrs["input"]
			if !ok || !in.IsKnown() || in.IsNull() || !in.Type().IsObjectType() {
				continue
			}
			n := &Node{Attrs: in.AsValueMap()}
			inf.EventarcSettings[key(i)] = &Subscription{Key: key(i),
				DeadLetterTopic: lastSegment(n.Text("dead_letter_topic")),
				MaxAttempts:     number(n.Attrs["max_delivery_attempts"]),
				AckDeadline:     number(n.Attrs["ack_deadline_seconds"]),
				HasRetryPolicy:  n.Text("minimum_backoff") != "" && n.Text("maximum_backoff") != "",
				OIDCAccount:     n.Text("push_auth_service_account"),
				Audience:        n.Text("push_auth_audience"),
				NeverExpires:    true}
		case "google_pubsub_topic_iam_member", "google_pubsub_subscription_iam_member", "google_cloud_run_v2_service_iam_member":
			target := i.Text("topic") + i.Text("subscription") + i.Text("name")
			member := i.Text("member")
			if member == "" {
				member = "?"
			}
			role := i.Text("role")
			if inf.Grants[role] == nil {
				inf.Grants[role] = map[string][]string{}
			}
			t := lastSegment(target)
			inf.Grants[role][t] = append(inf.Grants[role][t], member)
		}
	}
	return inf
}

// containerEnv reads the first container's environment and arguments.
func containerEnv(c *Node) (map[string]EnvVar, []string) {
	env := map[string]EnvVar{}
	if c == nil {
		return env, nil
	}
	for _, b := range c.BlocksOf("env") {
		name := b.Text("name")
		if ref := b.Block("value_source", "secret_key_ref"); ref != nil {
			env[name] = EnvVar{Secret: lastSegment(ref.Text("secret")), Known: true}
			continue
		}
		v, ok := b.Attrs["value"]
		env[name] = EnvVar{Value: b.Text("value"), Known: ok && v.IsWhollyKnown()}
	}
	var args []string
	if a, ok := c.Attrs["args"]; ok && a.IsWhollyKnown() && a.CanIterateElements() {
		for it := a.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if s, err := convert.Convert(v, cty.String); err == nil && !s.IsNull() {
				args = append(args, s.AsString())
			}
		}
	}
	return env, args
}

// texts reads a known list of strings; unknown or null elements are left out.
func texts(v cty.Value) []string {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if s, err := convert.Convert(e, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
			out = append(out, s.AsString())
		}
	}
	return out
}

func lastSegment(id string) string {
	return id[strings.LastIndex(id, "/")+1:]
}

func number(v cty.Value) int {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() {
		return 0
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0
	}
	i, _ := n.AsBigFloat().Int(new(big.Int))
	return int(i.Int64())
}

func boolean(v cty.Value) bool {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() {
		return false
	}
	b, err := convert.Convert(v, cty.Bool)
	return err == nil && b.True()
}

// seconds parses Cloud Run's "540s"; 0 for anything else.
func seconds(s string) int {
	s, ok := strings.CutSuffix(s, "s")
	if !ok {
		return 0
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return 0
	}
	return int(n.Int64())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
