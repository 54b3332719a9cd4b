package config_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
)

var update = flag.Bool("update", false, "rewrite .env.example from config.Vars")

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load(lookup(map[string]string{
		"PORT":                   "http",
		"API_KEY_ENCRYPTION_KEY": "c2hvcnQ=",
		"LOG_LEVEL":              "loud",
	}), config.Database, config.TelegramWebhook, config.Crypto)
	if err == nil {
		t.Fatal("Load accepted an incomplete configuration")
	}
	msg := err.Error()
	for _, want := range []string{"DATABASE_URL is required", "TELEGRAM_WEBHOOK_SECRET is required",
		"PORT must be a port number", "API_KEY_ENCRYPTION_KEY must be 32 bytes", "LOG_LEVEL must be one of"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Needs that were not asked for are not required.
	if strings.Contains(msg, "STRIPE_SECRET_KEY") {
		t.Errorf("error asks for a variable no needed group requires:\n%s", msg)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	secret := "sk_live_do_not_print_me"
	_, err := config.Load(lookup(map[string]string{
		"TELEGRAM_WEBHOOK_SECRET": "has spaces " + secret,
		"DATABASE_URL":            "mysql://" + secret,
		"API_KEY_ENCRYPTION_KEY":  secret,
	}), config.Database)
	if err == nil {
		t.Fatal("malformed secrets accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error prints a secret:\n%s", err)
	}
}

func TestDefaultsAndParts(t *testing.T) {
	t.Parallel()
	c, err := config.Load(lookup(map[string]string{
		"POSTGRES_HOST": "db.example", "POSTGRES_PORT": "6543", "POSTGRES_USER": "postgres.ref",
		"POSTGRES_PASSWORD": "p@ss/word", "POSTGRES_DB": "postgres", "DATABASE_EXEC_MODE": "exec",
		"OPENROUTER_API_KEY": "or-key", "LLM_PRICES": "openai/gpt-4o-mini=0.15:0.6",
		"CREDIT_PACKS": "100:500:USD",
	}), config.Database)
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://postgres.ref:p%40ss%2Fword@db.example:6543/postgres" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	if c.DatabaseExecMode != "exec" || c.Port != "8080" || c.MaxFileBytes != 1<<20 || c.LogFormat != "text" {
		t.Errorf("defaults: %+v", c)
	}
	if c.LLMAPIKey != "or-key" {
		t.Errorf("LLMAPIKey fallback = %q", c.LLMAPIKey)
	}
	if p := c.LLMPrices["openai/gpt-4o-mini"]; p.InputPerMillion != 0.15 || p.OutputPerMillion != 0.6 {
		t.Errorf("prices = %+v", c.LLMPrices)
	}
	if len(c.CreditPacks) != 1 || c.CreditPacks[0] != (config.CreditPack{Credits: 100, Amount: 500, Currency: "usd"}) {
		t.Errorf("packs = %+v", c.CreditPacks)
	}
}

func TestMockPaymentsRefusedInProduction(t *testing.T) {
	t.Parallel()
	_, err := config.Load(lookup(map[string]string{"ENVIRONMENT": "production", "MOCK_STRIPE_PAYMENTS": "true"}))
	if err == nil || !strings.Contains(err.Error(), "MOCK_STRIPE_PAYMENTS=true is refused") {
		t.Fatalf("err = %v", err)
	}
	c, err := config.Load(lookup(map[string]string{"MOCK_STRIPE_PAYMENTS": "true"}), config.StripeAPI)
	if err != nil || !c.MockStripePayments {
		t.Fatalf("mock payments in development: %v", err)
	}
}

// .env.example documents every variable; -update regenerates it.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", ".env.example")
	var b strings.Builder
	b.WriteString("# devbot configuration: every variable devbot reads, with its default.\n")
	b.WriteString("# Copy to .env for local runs; in production set them on each Cloud Run service\n")
	b.WriteString("# (secrets from Secret Manager). Each function checks only the ones it needs.\n")
	for _, v := range config.Vars {
		fmt.Fprintf(&b, "\n# %s", v.Help)
		if v.Secret {
			b.WriteString(" [secret]")
		}
		fmt.Fprintf(&b, "\n%s=%s\n", v.Name, v.Default)
	}
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Errorf(".env.example is out of date with config.Vars; run go test ./internal/config -run EnvExample -update")
	}
}
