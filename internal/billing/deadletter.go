package billing

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/devbot-hq/devbot/internal/fault"
)

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
// and logged for the operator), or it is a refund whose purchase is still
// unknown (logged; nothing is taken back, and nothing is recorded, so that a
// replay after the purchase is credited can still apply it). Any other error
// means the event could not be applied for a reason that can pass (the
// database is down, Telegram did not take the notice): the message must not
// be acknowledged, so that it comes back.
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
		log.ErrorContext(ctx, "refund given up: no purchase of ours is recorded for its charge, so no credits were taken back; "+
			"if it is ours, replay it (devbot replay) once the purchase is credited", "error", err.Error())
		return nil
	}
	return err
}
