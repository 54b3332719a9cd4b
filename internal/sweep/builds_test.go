package sweep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/sweep"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// Stalled builds: the sweeper publishes the current step of a build whose
// step has no live message or lease, and sends what a build left unsent.

type buildsRig struct {
	db      *db.DB
	ps      *embedded.Server
	tg      *telegramtest.Server
	sweeper *sweep.Sweeper
	user    db.User
	proj    db.Project
	sub     string
}

func newBuildsRig(t *testing.T) *buildsRig {
	t.Helper()
	ctx := context.Background()
	r := &buildsRig{db: dbtest.New(t), tg: telegramtest.New(t)}
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{{Topic: "build-steps"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	r.ps = ps
	r.sub = "projects/" + ps.Project + "/subscriptions/build-steps-watch"
	if _, err := ps.Client.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: r.sub,
		Topic: "projects/" + ps.Project + "/topics/build-steps", AckDeadlineSeconds: 60, EnableMessageOrdering: true}); err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(ctx, ps.Client, "build-steps")
	t.Cleanup(pub.Stop)
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := storage.NewFiles(local, 1<<20)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tg := telegram.New(r.tg.URL, r.tg.Token, r.tg.Client())
	// No refinement jobs here: the sweep's job parts find none.
	r.sweeper = &sweep.Sweeper{Config: sweep.Config{Lease: 30 * time.Second}, DB: r.db, Builds: pub, Logger: logger,
		FlushBuild: func(ctx context.Context, id int64) error { return build.Flush(ctx, r.db, tg, files, logger, id) }}
	r.user, _, err = db.EnsureUser(ctx, r.db.Pool, db.TelegramUser{TelegramID: 9, ChatID: chat, FirstName: "Ann"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.proj, err = db.CreateProject(ctx, r.db.Pool, r.user.ID, "api"); err != nil {
		t.Fatal(err)
	}
	return r
}

// build creates a build and sets what the test needs, as SQL on its row.
func (r *buildsRig) build(t *testing.T, set string) int64 {
	t.Helper()
	b, err := db.CreateBuild(context.Background(), r.db.Pool, db.NewBuild{UserID: r.user.ID, ProjectID: r.proj.ID, ChatID: chat,
		Description: "a todo API"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Pool.Exec(context.Background(), `UPDATE builds SET `+set+` WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	return b.ID
}

func (r *buildsRig) run(t *testing.T) sweep.Report {
	t.Helper()
	rep, err := r.sweeper.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// published drains the watch subscription: the steps published since, as
// "build/seq", with their ordering keys checked.
func (r *buildsRig) published(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := r.ps.Client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{Subscription: r.sub, MaxMessages: 100})
		cancel()
		if err != nil || len(resp.ReceivedMessages) == 0 {
			return out
		}
		var acks []string
		for _, m := range resp.ReceivedMessages {
			var sm struct{ Build, Seq int64 }
			if err := json.Unmarshal(m.Message.Data, &sm); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("build/%d", sm.Build); m.Message.OrderingKey != want {
				t.Errorf("ordering key %q, want %q", m.Message.OrderingKey, want)
			}
			out = append(out, fmt.Sprintf("%d/%d", sm.Build, sm.Seq))
			acks = append(acks, m.AckId)
		}
		if err := r.ps.Client.SubscriptionAdminClient.Acknowledge(context.Background(), &pb.AcknowledgeRequest{Subscription: r.sub, AckIds: acks}); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *buildsRig) row(t *testing.T, id int64) db.Build {
	t.Helper()
	b, err := db.GetBuild(context.Background(), r.db.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSweepPublishesAStepNeverPublished(t *testing.T) {
	r := newBuildsRig(t)
	lost := r.build(t, `state = 'running', step_seq = 3, published_seq = 2`)
	fresh := r.build(t, `state = 'running', step_seq = 3, published_seq = 3`) // its message is out, no claim yet
	paused := r.build(t, `state = 'paused', step_seq = 5, published_seq = 4`)
	blocked := r.build(t, `state = 'blocked', step_seq = 5, published_seq = 4`)
	done := r.build(t, `state = 'done', step_seq = 9, published_seq = 8`)
	planning := r.build(t, `state = 'new', step_seq = 1, published_seq = 0`)

	if rep := r.run(t); rep.Builds != 2 {
		t.Errorf("%d builds published again, want 2 (the running one and the one being planned)", rep.Builds)
	}
	got := strings.Join(r.published(t), " ")
	want1, want2 := fmt.Sprintf("%d/3", lost), fmt.Sprintf("%d/1", planning)
	if len(strings.Fields(got)) != 2 || !strings.Contains(got, want1) || !strings.Contains(got, want2) {
		t.Errorf("published %q, want %s and %s", got, want1, want2)
	}
	for _, id := range []int64{fresh, paused, blocked, done} {
		if strings.Contains(" "+got, fmt.Sprintf(" %d/", id)) {
			t.Errorf("published %q: build %d has its message or waits", got, id)
		}
	}
	if b := r.row(t, lost); b.PublishedSeq != 3 || b.StepSeq != 3 || b.State != "running" {
		t.Errorf("after the sweep: %s at step %d, published %d", b.State, b.StepSeq, b.PublishedSeq)
	}
	// Published and stamped: the next sweep leaves it to its message.
	if rep := r.run(t); rep.Builds != 0 {
		t.Errorf("a second sweep published %d builds again", rep.Builds)
	}
	if got := r.published(t); len(got) != 0 {
		t.Errorf("a second sweep published %v", got)
	}
}

func TestSweepPublishesAStepWhoseLeaseRanOut(t *testing.T) {
	r := newBuildsRig(t)
	dead := r.build(t, `state = 'running', step_seq = 4, published_seq = 4, attempts = 2, claimed_at = now() - interval '10 minutes'`)
	live := r.build(t, `state = 'running', step_seq = 4, published_seq = 4, attempts = 2, claimed_at = now() - interval '5 seconds'`)
	lost := r.build(t, `state = 'revising', step_seq = 2, published_seq = 2, updated_at = now() - interval '1 hour'`)
	if rep := r.run(t); rep.Builds != 2 {
		t.Errorf("%d builds published again, want 2", rep.Builds)
	}
	got := strings.Join(r.published(t), " ")
	if !strings.Contains(got, fmt.Sprintf("%d/4", dead)) || !strings.Contains(got, fmt.Sprintf("%d/2", lost)) ||
		strings.Contains(got, fmt.Sprintf("%d/", live)) {
		t.Errorf("published %q, want builds %d and %d, not %d", got, dead, lost, live)
	}
	// The dead claim is cleared, so the step's next delivery claims it at
	// once; the live one is left alone.
	if b := r.row(t, dead); b.ClaimedAt != nil || b.StepSeq != 4 {
		t.Errorf("the dead claim: claimed %v at step %d", b.ClaimedAt, b.StepSeq)
	}
	if b := r.row(t, live); b.ClaimedAt == nil {
		t.Error("the live claim was cleared")
	}
	if rep := r.run(t); rep.Builds != 0 {
		t.Errorf("a second sweep published %d builds again", rep.Builds)
	}
}

func TestSweepSendsWhatABuildLeftUnsent(t *testing.T) {
	r := newBuildsRig(t)
	ctx := context.Background()
	id := r.build(t, `state = 'running', step_seq = 2, published_seq = 2`)
	other := r.build(t, `state = 'done', step_seq = 9, published_seq = 9, progress_message_id = NULL`)
	for _, o := range []struct {
		build      int64
		kind, html string
	}{
		{id, "progress", "Building <b>api</b> 0/2"},
		{id, "message", "Before I plan it, one question"},
		{id, "progress", "Building <b>api</b> 1/2"},
		{other, "message", "✅ built"},
	} {
		if err := db.AddOutbox(ctx, r.db.Pool, o.build, o.kind, o.html, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Fresh rows are their step's to send: the sweep leaves them.
	if rep := r.run(t); rep.BuildTold != 0 || len(r.tg.Calls("sendMessage")) != 0 {
		t.Fatalf("a sweep sent fresh messages: %+v, %d sent", rep, len(r.tg.Calls("sendMessage")))
	}
	if _, err := r.db.Pool.Exec(ctx, `UPDATE build_outbox SET created_at = now() - interval '10 minutes'`); err != nil {
		t.Fatal(err)
	}
	if rep := r.run(t); rep.BuildTold != 2 {
		t.Errorf("%d builds' messages sent, want 2", rep.BuildTold)
	}
	var texts []string
	for _, c := range r.tg.Calls("sendMessage", "editMessageText") {
		texts = append(texts, c.Method+": "+c.Text())
	}
	// The first progress row is superseded by the second, which comes
	// after the message: the progress is sent, then the question, then the
	// progress edited in place.
	want := []string{"sendMessage: Building <b>api</b> 0/2", "sendMessage: Before I plan it, one question",
		"editMessageText: Building <b>api</b> 1/2", "sendMessage: ✅ built"}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") && strings.Join(append(want[3:], want[:3]...), "\n") != strings.Join(texts, "\n") {
		t.Errorf("sent\n%s\nwant\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	var unsent int
	if err := r.db.Pool.QueryRow(ctx, `SELECT count(*) FROM build_outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
		t.Fatal(err)
	}
	if unsent != 0 {
		t.Errorf("%d messages left unsent", unsent)
	}
	if b := r.row(t, id); b.ProgressMessageID == nil {
		t.Error("the progress message sent is not recorded")
	}
	calls := len(r.tg.Calls())
	if rep := r.run(t); rep.BuildTold != 0 || len(r.tg.Calls()) != calls {
		t.Errorf("a second sweep sent again: %+v, %d calls", rep, len(r.tg.Calls())-calls)
	}
}
