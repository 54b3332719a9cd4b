package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ErrDeferred marks a dead-lettered event that cannot be applied yet but
// will be once another event is: a refund whose purchase is not credited
// (events arrive out of order, and a database outage dead-letters both).
// It is retryable: the message must not be acknowledged, so that it comes
// back after the purchase, from the dead-letter push's retries, the
// sweeper's next pull or devbot replay.
var ErrDeferred = errors.New("deferred until the event it depends on is applied")

// HandleDeadLettered is the last chance of a Stripe event that failed every
// delivery attempt: StripeEvents calls it on the last attempt and for each
// push from the dead-letter topic, and the sweeper calls it for each message
// it pulls from the dead-letter subscription. It applies the event as
// HandleEvent does, through the same inbox and ledger causes, so whichever
// path gets there first credits once and tells the user once, and the
// others find it done.
//
// nil means the message may be acknowledged: the event was applied (now or
// earlier), or it can never be (a permanent rejection, recorded in the inbox
// and logged for the operator). An error wrapping ErrDeferred is a refund
// whose purchase is still unknown: nothing is taken back and nothing is
// recorded, and the message must be kept until the purchase is credited.
// Any other error means the event could not be applied for a reason that
// can pass (the database is down, Telegram did not take the notice): the
// message must not be acknowledged either, so that it comes back.
func (s *Service) HandleDeadLettered(ctx context.Context, payload []byte) error {
	err := s.HandleEvent(ctx, payload)
	if err == nil {
		return nil
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(payload, &ev) // for the log; HandleEvent judged the payload
	log := s.log.With("stripe_event", ev.ID, "event_type", ev.Type)
	switch {
	case fault.IsPermanent(err):
		log.ErrorContext(ctx, "dead-lettered stripe event can never be applied: reconcile it in the Stripe Dashboard",
			"error", err.Error())
		return nil
	case errors.Is(err, errPaymentUnknown):
		// Acknowledging it would lose the refund for good once the purchase
		// is credited; a charge that is not ours at all stays until the
		// subscription's retention drops it, logged on every try.
		log.WarnContext(ctx, "refund deferred: no purchase of ours is recorded for its charge yet, so it is kept "+
			"until the purchase is credited; if the charge is not ours, reconcile it in the Stripe Dashboard", "error", err.Error())
		return fault.AsRetryable(fmt.Errorf("%w: %w", ErrDeferred, err))
	}
	return err
}
