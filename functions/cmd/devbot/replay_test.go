package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const replayProject = "replay-test"

// replayFixture is an in-process Pub/Sub (pstest) with a dead-letter topic
// and its subscription, the topic to replay to and a subscription that
// shows what arrived there.
type replayFixture struct {
	client *pubsub.Client
	env    map[string]string
}

const (
	dlqTopic = "telegram-updates-dead-letter"
	dlqSub   = "telegram-updates-dead-letter-sub"
	target   = "telegram-updates"
	observer = "telegram-updates-observer"
)

func setupReplay(t *testing.T) *replayFixture {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	client, err := pubsub.NewClient(ctx, replayProject, option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	for _, topic := range []string{dlqTopic, target} {
		if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name("topics", topic)}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, topic := range map[string]string{dlqSub: dlqTopic, observer: target} {
		if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: name("subscriptions", sub), Topic: name("topics", topic), AckDeadlineSeconds: 60}); err != nil {
			t.Fatal(err)
		}
	}
	return &replayFixture{client: client, env: map[string]string{
		"GOOGLE_CLOUD_PROJECT": replayProject, "PUBSUB_EMULATOR_HOST": srv.Addr}}
}

func name(kind, id string) string { return "projects/" + replayProject + "/" + kind + "/" + id }

// deadLetter publishes n messages to the dead-letter topic as Pub/Sub would
// have forwarded them, and returns their ids.
func (f *replayFixture) deadLetter(t *testing.T, n int) []string {
	t.Helper()
	var msgs []*pubsubpb.PubsubMessage
	for i := range n {
		m := &pubsubpb.PubsubMessage{
			Data: fmt.Appendf(nil, `{"update_id":%d,"secret":"user file contents"}`, 700+i),
			Attributes: map[string]string{
				"kind": "update",
				"CloudPubSubDeadLetterSourceDeliveryCount":    "5",
				"CloudPubSubDeadLetterSourceSubscription":     "telegram-updates-push",
				"CloudPubSubDeadLetterSourceTopicPublishTime": time.Date(2026, 1, 1, 0, 0, n-i, 0, time.UTC).Format(time.RFC3339Nano),
			},
		}
		if i%2 == 0 {
			m.OrderingKey = fmt.Sprintf("chat-%d", i)
		} else {
			m.Attributes["ordering_key"] = fmt.Sprintf("chat-%d", i)
		}
		msgs = append(msgs, m)
	}
	resp, err := f.client.TopicAdminClient.Publish(context.Background(), &pubsubpb.PublishRequest{Topic: name("topics", dlqTopic), Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	return resp.MessageIds
}

// drain pulls and acks everything on a subscription.
func (f *replayFixture) drain(t *testing.T, sub string) []*pubsubpb.PubsubMessage {
	t.Helper()
	var out []*pubsubpb.PubsubMessage
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := f.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: name("subscriptions", sub), MaxMessages: 100})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ReceivedMessages) == 0 {
			return out
		}
		var acks []string
		for _, m := range resp.ReceivedMessages {
			out = append(out, m.Message)
			acks = append(acks, m.AckId)
		}
		if err := f.client.SubscriptionAdminClient.Acknowledge(context.Background(), &pubsubpb.AcknowledgeRequest{
			Subscription: name("subscriptions", sub), AckIds: acks}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplayMovesDeadLettersToTheTopic(t *testing.T) {
	t.Parallel()
	f := setupReplay(t)
	ids := f.deadLetter(t, 6)

	code, stdout, stderr := runWith(t, f.env, "replay", "--subscription", dlqSub, "--topic", target, "--wait", "1s")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "replayed 6 message(s)") {
		t.Errorf("summary missing:\n%s", stdout)
	}
	got := f.drain(t, observer)
	if len(got) != len(ids) {
		t.Fatalf("%d messages on %s, want %d", len(got), target, len(ids))
	}
	byOrigin := map[string]*pubsubpb.PubsubMessage{}
	for _, m := range got {
		byOrigin[m.Attributes[ReplayedFromAttribute]] = m
	}
	for i, id := range ids {
		m, ok := byOrigin[id]
		if !ok {
			t.Errorf("dead-lettered message %s was not replayed", id)
			continue
		}
		if want := fmt.Sprintf(`{"update_id":%d,"secret":"user file contents"}`, 700+i); string(m.Data) != want {
			t.Errorf("message %s data %q, want %q", id, m.Data, want)
		}
		if want := fmt.Sprintf("chat-%d", i); m.OrderingKey != want {
			t.Errorf("message %s ordering key %q, want %q", id, m.OrderingKey, want)
		}
		if m.Attributes["kind"] != "update" {
			t.Errorf("message %s lost its attribute: %v", id, m.Attributes)
		}
		for _, a := range deadLetterAttributes {
			if _, ok := m.Attributes[a]; ok {
				t.Errorf("message %s still carries %s", id, a)
			}
		}
		if strings.Contains(stdout, "user file contents") {
			t.Error("replay printed message data")
		}
	}
	if left := f.drain(t, dlqSub); len(left) != 0 {
		t.Errorf("%d messages left on the dead-letter subscription", len(left))
	}
}

func TestReplayStopsAtMax(t *testing.T) {
	t.Parallel()
	f := setupReplay(t)
	f.deadLetter(t, 5)
	if code, stdout, stderr := runWith(t, f.env, "replay", "--subscription", dlqSub, "--topic", target, "--max", "2", "--wait", "1s"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := f.drain(t, observer); len(got) != 2 {
		t.Errorf("%d replayed, want 2", len(got))
	}
	if left := f.drain(t, dlqSub); len(left) != 3 {
		t.Errorf("%d left on the dead-letter subscription, want 3", len(left))
	}
}

func TestReplayDryRunListsWithoutData(t *testing.T) {
	t.Parallel()
	f := setupReplay(t)
	ids := f.deadLetter(t, 3)
	code, stdout, stderr := runWith(t, f.env, "replay", "--subscription", name("subscriptions", dlqSub), "--dry-run", "--wait", "1s")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, id := range ids {
		if !strings.Contains(stdout, "message "+id) {
			t.Errorf("dry run does not list %s:\n%s", id, stdout)
		}
	}
	for _, want := range []string{"CloudPubSubDeadLetterSourceDeliveryCount=5", "kind=update", `ordering key "chat-0"`, "listed 3 message(s)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "user file contents") || strings.Contains(stdout, "update_id") {
		t.Errorf("dry run printed message data:\n%s", stdout)
	}
	if got := f.drain(t, observer); len(got) != 0 {
		t.Errorf("dry run published %d messages", len(got))
	}
	left := f.drain(t, dlqSub)
	leftIDs := make([]string, 0, len(left))
	for _, m := range left {
		leftIDs = append(leftIDs, m.MessageId)
	}
	if slices.Sort(leftIDs); !slices.Equal(leftIDs, slices.Sorted(slices.Values(ids))) {
		t.Errorf("after the dry run the dead-letter subscription holds %v, want %v", leftIDs, ids)
	}
}

func TestReplayKeepsMessagesWhenPublishFails(t *testing.T) {
	t.Parallel()
	f := setupReplay(t)
	f.deadLetter(t, 2)
	code, _, stderr := runWith(t, f.env, "replay", "--subscription", dlqSub, "--topic", "no-such-topic", "--wait", "1s")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "not re-published") {
		t.Errorf("error does not say what happened:\n%s", stderr)
	}
	if left := f.drain(t, dlqSub); len(left) != 2 {
		t.Errorf("%d messages left on the dead-letter subscription, want all 2", len(left))
	}
}

func TestReplayEmptySubscription(t *testing.T) {
	t.Parallel()
	f := setupReplay(t)
	code, stdout, stderr := runWith(t, f.env, "replay", "--subscription", dlqSub, "--topic", target, "--wait", "1s")
	if code != 0 || !strings.Contains(stdout, "replayed 0 message(s)") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestReplayUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GOOGLE_CLOUD_PROJECT": replayProject}
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--subscription", dlqSub},
		{"replay", "--subscription", dlqSub, "--topic", target, "--max", "0"},
		{"replay", "--subscription", dlqSub, "--topic", target, "extra"},
	} {
		if code, _, stderr := runWith(t, env, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if code, _, stderr := runWith(t, map[string]string{}, "replay", "--subscription", dlqSub, "--topic", target); code != 1 ||
		!strings.Contains(stderr, "GOOGLE_CLOUD_PROJECT") {
		t.Errorf("without a project: exit %d\n%s", code, stderr)
	}
}

func TestReplayAttributes(t *testing.T) {
	t.Parallel()
	m := &pubsubpb.PubsubMessage{MessageId: "42", Attributes: map[string]string{
		"a": "1", "CloudPubSubDeadLetterSourceSubscription": "s", "ordering_key": "k"}}
	got := replayAttributes(m)
	want := map[string]string{"a": "1", "ordering_key": "k", ReplayedFromAttribute: "42"}
	if !maps.Equal(got, want) {
		t.Errorf("replayAttributes = %v, want %v", got, want)
	}
	if _, still := m.Attributes[ReplayedFromAttribute]; still {
		t.Error("replayAttributes changed the original message")
	}
	for _, c := range []struct {
		m    *pubsubpb.PubsubMessage
		attr string
		want string
	}{
		{&pubsubpb.PubsubMessage{OrderingKey: "own", Attributes: map[string]string{"ordering_key": "attr"}}, "ordering_key", "own"},
		{&pubsubpb.PubsubMessage{Attributes: map[string]string{"ordering_key": "attr"}}, "ordering_key", "attr"},
		{&pubsubpb.PubsubMessage{Attributes: map[string]string{"ordering_key": "attr"}}, "", ""},
		{&pubsubpb.PubsubMessage{}, "ordering_key", ""},
	} {
		if got := orderingKey(c.m, c.attr); got != c.want {
			t.Errorf("orderingKey(%v, %q) = %q, want %q", c.m, c.attr, got, c.want)
		}
	}
}
