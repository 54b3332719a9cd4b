package config

import (
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
