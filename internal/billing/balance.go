package billing

import (
	"context"
	"fmt"
	"html"
	"strings"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// lastEntries is how many ledger entries /balance shows.
const lastEntries = 3

// BalanceText is /balance's answer (HTML): the balance, what is held for
// running refinements, the last ledger entries and the next step, e.g.
// "17 credits. Last: −3 refine cmd/main.go · +20 welcome. /buy for more."
//
// It reads through q: the caller's transaction when it holds one, so that
// /balance never needs a second connection while the bot's transaction is
// open (through a small pool, or a pooler with one backend, that waits).
func (s *Service) BalanceText(ctx context.Context, q db.Querier, userID int64) (text string, err error) {
	defer fault.Wrap(&err, "BalanceText(user %d)", userID)
	u, err := db.UserByID(ctx, q, userID)
	if err != nil {
		return "", err
	}
	entries, err := db.RecentLedger(ctx, q, userID, lastEntries)
	if err != nil {
		return "", err
	}
	return FormatBalance(u, entries), nil
}

// FormatBalance renders a balance and its newest ledger entries, the
// credits the user can spend first: "17 credits, plus 10 held for a
// refinement in progress. Last: −3 refine cmd/main.go · +20 welcome. /buy
// for more."
func FormatBalance(u db.User, entries []db.LedgerEntry) string {
	var b strings.Builder
	b.WriteString(credits(u.Available()))
	if u.Held > 0 {
		fmt.Fprintf(&b, ", plus %d held for a refinement in progress", u.Held)
	}
	b.WriteString(".")
	if len(entries) > 0 {
		b.WriteString(" Last: ")
		for i, e := range entries {
			if i > 0 {
				b.WriteString(" · ")
			}
			b.WriteString(entryText(e))
		}
		b.WriteString(".")
	}
	b.WriteString(" /buy for more.")
	return b.String()
}

// entryText is one ledger entry as /balance shows it: "+20 welcome",
// "−3 refine cmd/main.go" (with a real minus sign).
func entryText(e db.LedgerEntry) string {
	sign := "+"
	n := e.Amount
	if n < 0 {
		sign, n = "−", -n
	}
	what := e.Description
	if what == "" {
		what = e.Kind
	}
	s := fmt.Sprintf("%s%d %s", sign, n, html.EscapeString(what))
	if e.Mock {
		s += " (test)"
	}
	return s
}
