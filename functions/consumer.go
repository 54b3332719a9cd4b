package functions

import (
	"context"
	"net/http"
	"strings"

	"github.com/devbot-hq/devbot/internal/events"
)

// DeadLetterPath is where a consumer's service receives its dead-letter
// topic's push subscription. A message there exhausted its attempts without
// the consumer giving up itself (Eventarc and the emulator send no delivery
// attempt, or the instance died): the consumer's GiveUp fails the job,
// releases its credits and tells the user, so no job stays held forever.
const DeadLetterPath = "/dead-letter"

// consumerHandler serves c at every path but DeadLetterPath (also under
// /<Name>/ when several functions share a server).
func consumerHandler(c *events.Consumer) http.Handler {
	dead := c.DeadLetterHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, DeadLetterPath) {
			dead.ServeHTTP(w, r)
			return
		}
		c.ServeHTTP(w, r)
	})
}

// consumer serves a push subscription with the settings every consumer
// shares: the delivery limit and deadline from the configuration, push
// authentication when configured, the inbox for rejections, and the
// dead-letter route.
func (d *Deps) consumer(ctx context.Context, name string, handle func(context.Context, events.Message) error,
	giveUp func(context.Context, events.Message, error) error) (http.Handler, error) {
	pool, err := d.DB(ctx)
	if err != nil {
		return nil, err
	}
	auth, err := d.PushAuth(ctx)
	if err != nil {
		return nil, err
	}
	return consumerHandler(&events.Consumer{Name: name, Handle: handle, GiveUp: giveUp,
		MaxAttempts: d.Config.MaxDeliveryAttempts, Timeout: d.Config.HandlerTimeout,
		Logger: d.Logger, Auth: auth, DB: pool}), nil
}
