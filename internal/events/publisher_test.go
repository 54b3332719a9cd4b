package events_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
)

// failFirst fails the first n Publish calls with code.
type failFirst struct {
	n    atomic.Int64
	code codes.Code
}

func (f *failFirst) React(any) (bool, any, error) {
	if f.n.Add(-1) >= 0 {
		return true, nil, status.Error(f.code, "injected failure")
	}
	return false, nil, nil
}

func pstestClient(t *testing.T, opts ...pstest.ServerReactorOption) (*pstest.Server, *pubsub.Client) {
	t.Helper()
	srv := pstest.NewServer(opts...)
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, "devbot-test", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "projects/devbot-test/topics/jobs"}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestPublisherPublishes(t *testing.T) {
	t.Parallel()
	srv, c := pstestClient(t)
	p := events.NewPublisher(context.Background(), c, "jobs")
	defer p.Stop()
	id, err := p.Publish(context.Background(), events.Outgoing{Data: []byte(`{"job_id":1}`), OrderingKey: "p/a.go",
		Attributes: map[string]string{"kind": "refine"}})
	if err != nil || id == "" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].ID != id || string(msgs[0].Data) != `{"job_id":1}` ||
		msgs[0].OrderingKey != "p/a.go" || msgs[0].Attributes["kind"] != "refine" {
		t.Errorf("server holds %+v", msgs)
	}
}

// After a failure the client library pauses the ordering key; Publish
// resumes it, so the next publish with that key goes through.
func TestPublisherResumesPausedKey(t *testing.T) {
	t.Parallel()
	fail := &failFirst{code: codes.PermissionDenied}
	fail.n.Store(1)
	srv, c := pstestClient(t, pstest.ServerReactorOption{FuncName: "Publish", Reactor: fail})
	p := events.NewPublisher(context.Background(), c, "jobs")
	defer p.Stop()
	ctx := context.Background()
	_, err := p.Publish(ctx, events.Outgoing{Data: []byte("1"), OrderingKey: "k"})
	if err == nil {
		t.Fatal("the injected failure was not reported")
	}
	if !fault.IsRetryable(err) || !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("a failed publish should be retryable: %v", err)
	}
	id, err := p.Publish(ctx, events.Outgoing{Data: []byte("2"), OrderingKey: "k"})
	if err != nil {
		t.Fatalf("publish after a failure: %v (the key stayed paused)", err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].ID != id {
		t.Errorf("server holds %d messages, want the second one", len(msgs))
	}
}

func TestPublisherInvalidIsPermanent(t *testing.T) {
	t.Parallel()
	fail := &failFirst{code: codes.InvalidArgument}
	fail.n.Store(1)
	_, c := pstestClient(t, pstest.ServerReactorOption{FuncName: "Publish", Reactor: fail})
	p := events.NewPublisher(context.Background(), c, "jobs")
	defer p.Stop()
	_, err := p.Publish(context.Background(), events.Outgoing{Data: []byte("x"), OrderingKey: "k"})
	if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("InvalidArgument: %v, want permanent ErrInvalid", err)
	}
}

func BenchmarkPublish(b *testing.B) {
	srv := pstest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, "devbot-test", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "projects/devbot-test/topics/jobs"}); err != nil {
		b.Fatal(err)
	}
	p := events.NewPublisher(ctx, c, "jobs")
	defer p.Stop()
	for b.Loop() {
		if _, err := p.Publish(ctx, events.Outgoing{Data: []byte(`{"job_id":1}`), OrderingKey: "k"}); err != nil {
			b.Fatal(err)
		}
	}
}
