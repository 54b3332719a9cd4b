package events_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
)

const (
	testAudience = "https://refinejobs-abc-uc.a.run.app"
	testPushSA   = "pubsub-push@devbot-test.iam.gserviceaccount.com"
)

// googleCerts is a fake of Google's JWKS endpoint serving the public half
// of key under kid "k1".
func googleCerts(t *testing.T, key *rsa.PrivateKey) (*http.Client, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/oauth2/v3/certs" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	// Every request (idtoken asks https://www.googleapis.com) goes to srv.
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})
	return &http.Client{Transport: rt}, &hits
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func signJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	h := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func validClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": testAudience, "email": testPushSA,
		"email_verified": true, "sub": "1234", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func TestPushAuth(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hc, hits := googleCerts(t, key)
	auth, err := events.NewPushAuth(context.Background(), testAudience, testPushSA, hc)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) map[string]any {
		c := validClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		header string // when set, used as is
		key    *rsa.PrivateKey
		claims map[string]any
		want   int
	}{
		{name: "valid", claims: validClaims(), want: 204},
		{name: "issuer without scheme", claims: with("iss", "accounts.google.com"), want: 204},
		{name: "no token", header: "-", want: 401},
		{name: "not bearer", header: "Basic dXNlcjpwYXNz", want: 401},
		{name: "garbage token", header: "Bearer abc.def.ghi", want: 401},
		{name: "wrong audience", claims: with("aud", "https://elsewhere.run.app"), want: 401},
		{name: "expired", claims: with("exp", time.Now().Add(-time.Minute).Unix()), want: 401},
		{name: "other signer", key: other, claims: validClaims(), want: 401},
		{name: "wrong issuer", claims: with("iss", "https://evil.example.com"), want: 401},
		{name: "other service account", claims: with("email", "someone@devbot-test.iam.gserviceaccount.com"), want: 403},
		{name: "no email", claims: with("email", nil), want: 403},
		{name: "email not verified", claims: with("email_verified", false), want: 403},
		{name: "email_verified missing", claims: with("email_verified", nil), want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil, nil)
			b.c.Auth = auth
			r := eventstest.Wrapped(sample())
			switch {
			case tt.header == "-":
			case tt.header != "":
				r.Header.Set("Authorization", tt.header)
			default:
				k := tt.key
				if k == nil {
					k = key
				}
				r.Header.Set("Authorization", "Bearer "+signJWT(t, k, "k1", tt.claims))
			}
			w := serve(b.c, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d; logs:\n%s", w.Code, tt.want, b.logs)
			}
			if n, _ := b.rec.counts(); (n == 1) != (tt.want == 204) {
				t.Errorf("handler ran %d times", n)
			}
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if hits.Load() == 0 {
			t.Error("the fake certificate endpoint was never asked: signatures were not checked")
		}
	})
}

func TestNewPushAuthNeedsBoth(t *testing.T) {
	t.Parallel()
	if _, err := events.NewPushAuth(context.Background(), "", testPushSA, nil); err == nil {
		t.Error("an empty audience was accepted (idtoken would skip the audience check)")
	}
	if _, err := events.NewPushAuth(context.Background(), testAudience, "", nil); err == nil {
		t.Error("an empty service account was accepted")
	}
}
