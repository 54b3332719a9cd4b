package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseCreditPacks parses "credits:amount:currency,...".
func ParseCreditPacks(v string) ([]CreditPack, error) {
	var packs []CreditPack
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("has %q: want credits:amount-in-cents:currency", item)
		}
		credits, err1 := strconv.ParseInt(parts[0], 10, 64)
		amount, err2 := strconv.ParseInt(parts[1], 10, 64)
		cur := strings.ToLower(parts[2])
		if err1 != nil || err2 != nil || credits <= 0 || amount <= 0 || len(cur) != 3 {
			return nil, fmt.Errorf("has %q: want positive credits and amount and a 3-letter currency", item)
		}
		packs = append(packs, CreditPack{Credits: credits, Amount: amount, Currency: cur})
	}
	return packs, nil
}

// ParsePrices parses "model=input:output,..." in USD per million tokens.
func ParsePrices(v string) (map[string]ModelPrice, error) {
	prices := map[string]ModelPrice{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		model, pair, ok := strings.Cut(item, "=")
		in, out, ok2 := strings.Cut(pair, ":")
		if !ok || !ok2 || model == "" {
			return nil, fmt.Errorf("has %q: want model=input:output", item)
		}
		pi, err1 := strconv.ParseFloat(in, 64)
		po, err2 := strconv.ParseFloat(out, 64)
		if err1 != nil || err2 != nil || pi < 0 || po < 0 {
			return nil, fmt.Errorf("has %q: prices must be non-negative numbers", item)
		}
		prices[model] = ModelPrice{InputPerMillion: pi, OutputPerMillion: po}
	}
	return prices, nil
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func oneOf(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.ToLower(v)
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
		}
		*field(c) = v
		return nil
	}
}

func httpURL(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("must be an http:// or https:// URL")
		}
		*field(c) = strings.TrimRight(v, "/")
		return nil
	}
}

func topic(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		// Pub/Sub: 3-255 characters, starting with a letter.
		if len(v) < 3 || len(v) > 255 || !isLetter(v[0]) ||
			strings.TrimLeft(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+%") != "" {
			return errors.New("must be a Pub/Sub topic id: 3-255 letters, digits and -_.~+%, starting with a letter")
		}
		*field(c) = v
		return nil
	}
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("must be a positive duration such as 30s or 2m")
		}
		*field(c) = d
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*field(c) = b
		return nil
	}
}

func positiveInt64(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errors.New("must be a positive integer")
		}
		*field(c) = n
		return nil
	}
}

func nonNegativeInt64(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errors.New("must be a non-negative integer")
		}
		*field(c) = n
		return nil
	}
}

// stripeSecretKey accepts a secret (sk_) or restricted (rk_) key and names
// the mistake otherwise: a publishable key (pk_) cannot create sessions.
func stripeSecretKey(c *Config, v string) error {
	switch {
	case strings.HasPrefix(v, "sk_") || strings.HasPrefix(v, "rk_"):
		c.StripeSecretKey = v
		return nil
	case strings.HasPrefix(v, "pk_"):
		return errors.New("is a publishable key (pk_…): use the secret key (sk_…) or a restricted key (rk_…) from the Stripe Dashboard's API keys")
	}
	return errors.New("must be a secret key (sk_…) or a restricted key (rk_…) from the Stripe Dashboard's API keys")
}

// supabaseKey refuses a key that cannot act for the server: with an anon
// or publishable key Storage answers as an anonymous caller whom row-level
// security lets see nothing, so listing says empty and deleting deletes
// nothing, silently. A JWT's role claim is read without checking its
// signature (the server checks that); the newer keys say what they are in
// their prefix.
func supabaseKey(c *Config, v string) error {
	const need = "use the project's service_role key (or an sb_secret_… key), under Project Settings → API Keys"
	switch {
	case strings.HasPrefix(v, "sb_secret_"):
	case strings.HasPrefix(v, "sb_publishable_"):
		return errors.New("is a publishable key (sb_publishable_…): use a secret key (sb_secret_…) or the service_role key, under Project Settings → API Keys")
	case strings.Count(v, ".") == 2:
		role, ok := jwtRole(v)
		switch {
		case !ok:
			return errors.New("is a JWT whose claims cannot be read: " + need)
		case role == "":
			return errors.New("is a JWT without a role: " + need)
		case role != "service_role":
			return fmt.Errorf("is the %q key: %s", role, need)
		}
	default:
		return errors.New("is neither a JWT nor an sb_secret_… key: " + need)
	}
	c.SupabaseKey = v
	return nil
}

// jwtRole decodes a JWT's payload (no signature check) and returns its
// role claim; ok is false when the payload is not base64url JSON.
func jwtRole(token string) (role string, ok bool) {
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var claims struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return "", false
	}
	return claims.Role, true
}
