package billing_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/db"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBalanceText(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	text, err := f.svc.BalanceText(ctx, f.db.Pool, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "20 credits. Last: +20 welcome. /buy for more."; text != want {
		t.Errorf("new user:\n got %q\nwant %q", text, want)
	}

	if _, err := f.svc.Buy(ctx, billing.BuyRequest{UserID: f.user.ID, UpdateID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddLedgerEntry(ctx, f.db.Pool, db.LedgerEntry{UserID: f.user.ID, Amount: -3, Kind: db.KindRefine,
		Cause: "refine:t1", Description: "refine cmd/<main>.go"}); err != nil {
		t.Fatal(err)
	}
	holdCredits(t, f, 10)
	text, err = f.svc.BalanceText(ctx, f.db.Pool, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The Stripe purchase is pending: only the ledger moves the balance.
	want := "7 credits, plus 10 held for a refinement in progress. Last: −3 refine cmd/&lt;main&gt;.go · +20 welcome. /buy for more."
	if text != want {
		t.Errorf("after a refinement:\n got %q\nwant %q", text, want)
	}
}

func TestBalanceTextShowsMockPurchases(t *testing.T) {
	t.Parallel()
	f := setup(t, options{mock: true})
	ctx := ctxT(t)
	if _, err := f.svc.Buy(ctx, billing.BuyRequest{UserID: f.user.ID, UpdateID: 5, Pack: 0}); err != nil {
		t.Fatal(err)
	}
	text, err := f.svc.BalanceText(ctx, f.db.Pool, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "120 credits. Last: +100 purchase (test) · +20 welcome. /buy for more."; text != want {
		t.Errorf("got %q\nwant %q", text, want)
	}
}
