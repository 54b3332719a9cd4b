package deploycheck

import "testing"

// Every service that replies gets its share of Telegram's flood limits:
// the bot's rate and the instances that share it (4 by default); the
// webhooks send nothing.
func TestTelegramRateShares(t *testing.T) {
	t.Parallel()
	inf, err := evaluate(t, setup(t), testVars("push"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"devbot-telegram-updates", "devbot-refine-jobs", "devbot-build-steps", "devbot-stripe-events", "devbot-sweeper"} {
		s := inf.Services[name]
		if s == nil {
			t.Fatalf("no service %s", name)
		}
		if got := s.Env["TELEGRAM_MAX_RATE"].Value; got != "25" {
			t.Errorf("%s: TELEGRAM_MAX_RATE = %q, want 25", name, got)
		}
		if got := s.Env["TELEGRAM_INSTANCES"].Value; got != "4" {
			t.Errorf("%s: TELEGRAM_INSTANCES = %q, want 4", name, got)
		}
	}
	if _, ok := inf.Services["devbot-telegram-webhook"].Env["TELEGRAM_INSTANCES"]; ok {
		t.Errorf("the Telegram webhook, which sends nothing, has TELEGRAM_INSTANCES")
	}
}
