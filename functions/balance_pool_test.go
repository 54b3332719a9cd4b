package functions

import (
	"testing"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// /balance runs inside the update's transaction. It used to read the
// balance on a second pooled connection while that transaction held the
// first, so with one connection (a small pool, or a pooler with one
// backend per database) it waited for ever.
func TestBalanceNeedsNoSecondConnection(t *testing.T) {
	w := newTGWorld(t, "local", llmtest.New(t).URL, map[string]string{"DATABASE_MAX_CONNS": "1", "MOCK_STRIPE_PAYMENTS": "true"})
	w.post(w.msg("/start"), 1)
	w.want(w.post(w.msg("/balance"), 1), "20 credits")
}
