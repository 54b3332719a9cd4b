package functions

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

func pubsubDepsConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	env["GOOGLE_CLOUD_PROJECT"] = "devbot-test"
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.PubSub)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// PUBSUB_EMULATOR_HOST from the configuration reaches the emulator (here
// pstest), and publishers are one per topic, flushed at Close.
func TestDepsPublisherUsesEmulatorHost(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServer()
	defer srv.Close()
	cfg := pubsubDepsConfig(t, map[string]string{"PUBSUB_EMULATOR_HOST": srv.Addr})
	d := NewDeps(cfg, slog.New(slog.DiscardHandler))
	defer d.Close()
	ctx := context.Background()
	c, err := d.PubSubClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "projects/devbot-test/topics/" + cfg.TopicRefineJobs}); err != nil {
		t.Fatal(err)
	}
	p, err := d.Publisher(ctx, cfg.TopicRefineJobs)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.Publisher(ctx, cfg.TopicRefineJobs); again != p {
		t.Error("a second Publisher for the topic is a new one")
	}
	id, err := p.Publish(ctx, events.Outgoing{Data: []byte(`{"job_id":1}`), OrderingKey: "p/a.go"})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].ID != id {
		t.Errorf("the emulator holds %d messages, want the one published", len(msgs))
	}
}

// devbot dev injects the embedded server's client; Deps uses it and does
// not close it.
func TestDepsInjectedPubSubClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := embedded.Start(ctx, embedded.Config{Project: "devbot-test",
		Topics: []embedded.TopicSpec{{Topic: "telegram-updates"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := NewDeps(pubsubDepsConfig(t, map[string]string{}), slog.New(slog.DiscardHandler))
	d.SetPubSubClient(s.Client)
	p, err := d.Publisher(ctx, "telegram-updates")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, events.Outgoing{Data: []byte("u")}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Still usable: Deps did not close a client it did not make.
	if _, err := s.Client.TopicAdminClient.GetTopic(ctx, &pb.GetTopicRequest{Topic: "projects/devbot-test/topics/telegram-updates"}); err != nil {
		t.Errorf("the injected client was closed: %v", err)
	}
}

func TestDepsPushAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	off := NewDeps(pubsubDepsConfig(t, map[string]string{}), slog.New(slog.DiscardHandler))
	if a, err := off.PushAuth(ctx); a != nil || err != nil {
		t.Errorf("PushAuth without an audience = %v, %v; want nil, nil", a, err)
	}
	on := NewDeps(pubsubDepsConfig(t, map[string]string{"PUSH_AUTH_AUDIENCE": "https://x.run.app",
		"PUSH_AUTH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com"}), slog.New(slog.DiscardHandler))
	a, err := on.PushAuth(ctx)
	if err != nil || a == nil || a.Audience != "https://x.run.app" {
		t.Errorf("PushAuth = %+v, %v", a, err)
	}
}

// A consumer built for production without push authentication refuses to
// start, naming both variables: Cloud Run IAM alone would then stand in
// front of StripeEvents (issue 12 item 3). With both set it starts.
func TestConsumerRefusesProductionWithoutPushAuth(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t)
	base := map[string]string{
		"ENVIRONMENT": "production", "DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(),
		"TELEGRAM_BOT_TOKEN": tg.Token, "TELEGRAM_API_URL": tg.URL,
	}
	build := func(extra map[string]string) error {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Database, config.TelegramAPI)
		if err != nil {
			t.Fatal(err)
		}
		d := NewDeps(cfg, slog.New(slog.DiscardHandler))
		defer d.Close()
		target, _ := Lookup(StripeEventsName)
		_, err = Handler(context.Background(), []Target{target}, d)
		return err
	}
	for _, c := range []struct {
		name  string
		extra map[string]string
	}{
		{"neither", nil},
		{"service account only", map[string]string{"PUSH_AUTH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com"}},
	} {
		err := build(c.extra)
		if err == nil || !strings.Contains(err.Error(), "PUSH_AUTH_AUDIENCE") || !strings.Contains(err.Error(), "PUSH_AUTH_SERVICE_ACCOUNT") ||
			!strings.Contains(err.Error(), "ENVIRONMENT=production") {
			t.Errorf("%s: StripeEvents in production without push auth: error %v, want one naming ENVIRONMENT=production, PUSH_AUTH_AUDIENCE and PUSH_AUTH_SERVICE_ACCOUNT", c.name, err)
		}
	}
	if err := build(map[string]string{"PUSH_AUTH_AUDIENCE": "devbot/p/devbot-stripe-events",
		"PUSH_AUTH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com"}); err != nil {
		t.Errorf("StripeEvents in production with push auth: %v", err)
	}
}

// Every consumer refuses production without push authentication before it
// builds anything (no database is reached); outside production push auth
// stays optional (devbot dev, the emulator and the tests send no token).
func TestEveryConsumerRequiresPushAuthInProduction(t *testing.T) {
	t.Parallel()
	for _, target := range Targets() {
		if target.Consumes == "" {
			continue
		}
		cfg := &config.Config{Environment: "production", DatabaseURL: "postgres://devbot@127.0.0.1:1/none"}
		d := NewDeps(cfg, slog.New(slog.DiscardHandler))
		_, err := Handler(context.Background(), []Target{target}, d)
		d.Close()
		if err == nil || !strings.Contains(err.Error(), "PUSH_AUTH_AUDIENCE") {
			t.Errorf("%s: error %v, want the push-auth refusal", target.Name, err)
		}
		if dev, err := NewDeps(&config.Config{Environment: "development"}, slog.New(slog.DiscardHandler)).PushAuth(context.Background()); dev != nil || err != nil {
			t.Errorf("development without push auth: %v, %v; want nil, nil", dev, err)
		}
	}
}
