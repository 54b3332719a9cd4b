package secretbox_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/devbot-hq/devbot/internal/secretbox"
)

func setup(t *testing.T) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret := []byte("sk-or-v1-abcdef")
	s1, err := b.Seal(1, secret)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal(1, secret)
	if bytes.Equal(s1, s2) {
		t.Error("two seals are equal: the nonce is not random")
	}
	if bytes.Contains(s1, secret) {
		t.Error("plaintext visible in the sealed value")
	}
	got, err := b.Open(1, s1)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := secretbox.New(bytes.Repeat([]byte{8}, 32))
	tampered := bytes.Clone(s1)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other user": func() ([]byte, error) { return b.Open(2, s1) },
		"other key":  func() ([]byte, error) { return other.Open(1, s1) },
		"tampered":   func() ([]byte, error) { return b.Open(1, tampered) },
		"short":      func() ([]byte, error) { return b.Open(1, s1[:5]) },
	} {
		if _, err := open(); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := secretbox.New([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}
