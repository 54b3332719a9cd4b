package functions

import (
	"context"
	"log/slog"
	"testing"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
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
