package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
)

// TestEnsureUserWritesUserAndWelcomeTogether injects a failure into the
// welcome credit (a trigger refusing it, as a dropped connection or a
// deadline would): the user row must not survive without its credits, or the
// next contact, which finds the user, would never grant them.
func TestEnsureUserWritesUserAndWelcomeTogether(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `
		CREATE FUNCTION fail_welcome() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'injected: the welcome credit fails'; END; $$;
		CREATE TRIGGER fail_welcome BEFORE INSERT ON credit_ledger
			FOR EACH ROW WHEN (NEW.kind = 'welcome') EXECUTE FUNCTION fail_welcome();`); err != nil {
		t.Fatal(err)
	}
	tu := db.TelegramUser{TelegramID: 4242, ChatID: 4242, FirstName: "Bo"}
	if _, _, err := db.EnsureUser(ctx, d.Pool, tu, 20); err == nil {
		t.Fatal("EnsureUser succeeded although the welcome credit failed")
	}
	var users int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE telegram_id = $1`, tu.TelegramID).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("after a failed welcome credit %d user row(s) exist without their credits, want none", users)
	}
	if _, err := d.Pool.Exec(ctx, `DROP TRIGGER fail_welcome ON credit_ledger`); err != nil {
		t.Fatal(err)
	}
	u, created, err := db.EnsureUser(ctx, d.Pool, tu, 20)
	if err != nil {
		t.Fatal(err)
	}
	if !created || u.Balance != 20 {
		t.Errorf("next contact: created=%v balance=%d, want a new user with the 20 welcome credits", created, u.Balance)
	}
	if b, _ := balance(t, d, u.ID); b != 20 {
		t.Errorf("stored balance %d, want 20", b)
	}
}

// TestEnsureUserConcurrentFirstContacts: several updates of a new user
// handled at once register them once, with one welcome credit.
func TestEnsureUserConcurrentFirstContacts(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	tu := db.TelegramUser{TelegramID: 4343, ChatID: 4343, FirstName: "Cy"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdN := 0
	for range 8 {
		wg.Go(func() {
			u, created, err := db.EnsureUser(ctx, d.Pool, tu, 20)
			if err != nil {
				t.Error(err)
				return
			}
			if u.Balance != 20 {
				t.Errorf("EnsureUser returned balance %d, want 20", u.Balance)
			}
			mu.Lock()
			defer mu.Unlock()
			if created {
				createdN++
			}
		})
	}
	wg.Wait()
	if createdN != 1 {
		t.Errorf("%d calls reported creating the user, want 1", createdN)
	}
	u, err := db.UserByTelegramID(ctx, d.Pool, tu.TelegramID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := balance(t, d, u.ID); b != 20 {
		t.Errorf("balance %d, want 20 (one welcome)", b)
	}
}
