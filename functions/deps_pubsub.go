package functions

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/events"
)

// pubsubDeps is the Pub/Sub part of Deps, guarded by Deps.mu.
type pubsubDeps struct {
	client     *pubsub.Client
	publishers map[string]*events.Publisher
	auth       *events.PushAuth
}

// SetPubSubClient makes the functions use c (devbot dev hands in the
// embedded server's client). Call it before the first PubSubClient or
// Publisher; Deps does not close a client it did not make.
func (d *Deps) SetPubSubClient(c *pubsub.Client) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pubsub.client = c
}

// PubSubClient returns the shared Pub/Sub client for GOOGLE_CLOUD_PROJECT.
// With PUBSUB_EMULATOR_HOST (in the environment, which the library reads
// itself, or only in the configuration) it talks to the emulator, without
// credentials.
func (d *Deps) PubSubClient(ctx context.Context) (*pubsub.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pubsubClientLocked(ctx)
}

func (d *Deps) pubsubClientLocked(ctx context.Context) (*pubsub.Client, error) {
	if d.pubsub.client != nil {
		return d.pubsub.client, nil
	}
	var opts []option.ClientOption
	if host := d.Config.PubSubEmulatorHost; host != "" {
		opts = append(opts, option.WithEndpoint(host), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	// The client outlives the request that builds it.
	c, err := pubsub.NewClient(context.WithoutCancel(ctx), d.Config.GoogleCloudProject, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client for project %q: %w", d.Config.GoogleCloudProject, err)
	}
	d.pubsub.client = c
	d.closers = append(d.closers, func() { c.Close() })
	return c, nil
}

// Publisher returns the publisher for topicID (a TOPIC_* setting), one per
// topic, stopped (pending messages flushed) at Close before the client is
// closed.
func (d *Deps) Publisher(ctx context.Context, topicID string) (*events.Publisher, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pubsub.publishers[topicID]; ok {
		return p, nil
	}
	c, err := d.pubsubClientLocked(ctx)
	if err != nil {
		return nil, err
	}
	p := events.NewPublisher(ctx, c, topicID)
	if d.pubsub.publishers == nil {
		d.pubsub.publishers = map[string]*events.Publisher{}
	}
	d.pubsub.publishers[topicID] = p
	d.closers = append(d.closers, p.Stop) // closers run newest first: before the client's
	return p, nil
}

// PushAuthVars configure push authentication (internal/config reads them);
// a consumer in production needs both, and internal/deploycheck holds
// Terraform to setting them on every consumer service.
var PushAuthVars = []string{"PUSH_AUTH_AUDIENCE", "PUSH_AUTH_SERVICE_ACCOUNT"}

// requirePushAuth refuses a consumer in production whose push requests would
// not be authenticated by the application: Cloud Run IAM alone would then
// stand between the internet and the credit ledger, and one IAM mistake (an
// allUsers invoker, a disabled invoker check) would let anyone post a paid
// event. Outside production push auth stays optional: devbot dev, the
// emulator and the tests send no token.
func requirePushAuth(cfg *config.Config) error {
	if !cfg.Production() {
		return nil
	}
	var missing []string
	if cfg.PushAuthAudience == "" {
		missing = append(missing, "PUSH_AUTH_AUDIENCE")
	}
	if cfg.PushAuthServiceAccount == "" {
		missing = append(missing, "PUSH_AUTH_SERVICE_ACCOUNT")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("ENVIRONMENT=production: a consumer does not start without push authentication: "+
		"PUSH_AUTH_AUDIENCE (the audience of its subscription's OIDC token) and PUSH_AUTH_SERVICE_ACCOUNT "+
		"(the push service account's email) must both be set (infra/terraform sets them); not set: %s",
		strings.Join(missing, ", "))
}

// PushAuth returns the OIDC verifier for push requests, or nil when
// PUSH_AUTH_AUDIENCE is not set outside production (Cloud Run IAM, or
// nothing locally, then guards the consumer). In production it is an error
// to have none (requirePushAuth).
func (d *Deps) PushAuth(ctx context.Context) (*events.PushAuth, error) {
	if err := requirePushAuth(d.Config); err != nil {
		return nil, err
	}
	if d.Config.PushAuthAudience == "" {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pubsub.auth != nil {
		return d.pubsub.auth, nil
	}
	a, err := events.NewPushAuth(context.WithoutCancel(ctx), d.Config.PushAuthAudience, d.Config.PushAuthServiceAccount, nil)
	if err != nil {
		return nil, err
	}
	d.pubsub.auth = a
	return a, nil
}
