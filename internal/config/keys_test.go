package config_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
)

// jwt builds an unsigned-looking JWT with payload (the role check only
// decodes).
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJl"
}

func TestSupabaseKeyMustBeTheServiceKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want string // "" accepted
	}{
		{jwt(`{"iss":"supabase","ref":"abcd","role":"service_role","iat":1,"exp":9999999999}`), ""},
		{"sb_secret_0123456789abcdefABCDEF", ""},
		{jwt(`{"iss":"supabase","ref":"abcd","role":"anon","iat":1,"exp":9999999999}`),
			`SUPABASE_KEY is the "anon" key: use the project's service_role key (or an sb_secret_… key)`},
		{jwt(`{"role":"authenticated"}`), `SUPABASE_KEY is the "authenticated" key: use the project's service_role key`},
		{"sb_publishable_0123456789abcdef", "SUPABASE_KEY is a publishable key (sb_publishable_…): use a secret key (sb_secret_…) or the service_role key"},
		{jwt(`{"iss":"supabase"}`), "SUPABASE_KEY is a JWT without a role: use the project's service_role key"},
		{"not-a-key", "SUPABASE_KEY is neither a JWT nor an sb_secret_… key: use the project's service_role key"},
	}
	for _, tt := range tests {
		_, err := config.Load(lookup(map[string]string{"SUPABASE_URL": "https://abcd.supabase.co", "SUPABASE_KEY": tt.key}), config.Storage)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s refused: %v", tt.key, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.key, err, tt.want)
		case err != nil && strings.Count(err.Error(), "SUPABASE_KEY") != 1:
			t.Errorf("%s: one problem, one message: %v", tt.key, err)
		case err != nil && strings.Contains(err.Error(), tt.key):
			t.Errorf("the error prints the key: %v", err)
		}
	}
}

// A malformed SUPABASE_URL is one problem, said once.
func TestMalformedSupabaseURLOneMessage(t *testing.T) {
	t.Parallel()
	_, err := config.Load(lookup(map[string]string{"SUPABASE_URL": "abcd.supabase.co", "SUPABASE_KEY": "sb_secret_x0123456789"}), config.Storage)
	if err == nil {
		t.Fatal("accepted")
	}
	if n := strings.Count(err.Error(), "SUPABASE_URL"); n != 1 || !strings.Contains(err.Error(), "SUPABASE_URL must be an http:// or https:// URL") {
		t.Errorf("%d messages about SUPABASE_URL, want 1:\n%v", n, err)
	}
}

// A bare Storage server (which serves at its root) is addressed by
// SUPABASE_STORAGE_URL, used as is; SUPABASE_URL is then not needed.
func TestSupabaseStorageURL(t *testing.T) {
	t.Parallel()
	c, err := config.Load(lookup(map[string]string{"SUPABASE_STORAGE_URL": "http://storage:5000/", "SUPABASE_KEY": "sb_secret_x0123456789"}), config.Storage)
	if err != nil {
		t.Fatal(err)
	}
	if c.SupabaseStorageURL != "http://storage:5000" || c.SupabaseURL != "" {
		t.Errorf("storage URL %q, project URL %q", c.SupabaseStorageURL, c.SupabaseURL)
	}
	_, err = config.Load(lookup(map[string]string{"SUPABASE_KEY": "sb_secret_x0123456789"}), config.Storage)
	if err == nil || !strings.Contains(err.Error(), "SUPABASE_URL is required (the Supabase project URL") ||
		!strings.Contains(err.Error(), "SUPABASE_STORAGE_URL") {
		t.Errorf("neither URL: %v", err)
	}
}

func TestStripeKeyPrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, want string
	}{
		{"STRIPE_SECRET_KEY", "sk_test_51abc", ""},
		{"STRIPE_SECRET_KEY", "sk_live_51abc", ""},
		{"STRIPE_SECRET_KEY", "rk_live_51abc", ""},
		{"STRIPE_SECRET_KEY", "pk_live_51abc", "STRIPE_SECRET_KEY is a publishable key (pk_…): use the secret key (sk_…) or a restricted key (rk_…)"},
		{"STRIPE_SECRET_KEY", "whsec_abc", "STRIPE_SECRET_KEY must be a secret key (sk_…) or a restricted key (rk_…)"},
		{"STRIPE_WEBHOOK_SECRET", "whsec_abc", ""},
		{"STRIPE_WEBHOOK_SECRET", "sk_test_51abc", "STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret (whsec_…)"},
	}
	for _, tt := range tests {
		_, err := config.Load(lookup(map[string]string{tt.name: tt.value}))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s=%s refused: %v", tt.name, tt.value, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s=%s: err = %v, want %q", tt.name, tt.value, err, tt.want)
		case err != nil && strings.Contains(err.Error(), tt.value):
			t.Errorf("the error prints the secret: %v", err)
		}
	}
}

// Every secret's value, and the database password in the forms it takes,
// is handed to the logger.
func TestSecretsListed(t *testing.T) {
	t.Parallel()
	c, err := config.Load(lookup(map[string]string{"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p@ss/word-long",
		"LLM_API_KEY": "sk-llm-0123456789", "GOOGLE_API_KEY": "AIza-fallback-unused", "LLM_MODEL": "not-a-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Secrets(), "\n")
	for _, want := range []string{"p@ss/word-long", "p%40ss%2Fword-long", "sk-llm-0123456789", "AIza-fallback-unused"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets lacks %q", want)
		}
	}
	if strings.Contains(got, "not-a-secret") {
		t.Errorf("Secrets lists a setting that is not secret")
	}
}
