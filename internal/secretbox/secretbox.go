// Package secretbox seals users' own LLM API keys with AES-256-GCM under
// API_KEY_ENCRYPTION_KEY. A sealed value is nonce || ciphertext; the user id
// is bound as additional data, so a ciphertext copied onto another user's row
// does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
)

// ErrOpen is returned when a sealed value does not open (wrong key, wrong
// user, or tampered).
var ErrOpen = errors.New("secretbox: cannot open the sealed value")

// Box seals and opens values. It is safe for concurrent use.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: the key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

func ad(userID int64) []byte { return []byte("devbot-user-key:" + strconv.FormatInt(userID, 10)) }

// Seal encrypts plaintext for userID with a fresh random nonce.
func (b *Box) Seal(userID int64, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plaintext, ad(userID)), nil
}

// Open decrypts a value sealed for userID.
func (b *Box) Open(userID int64, sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := b.aead.Open(nil, sealed[:n], sealed[n:], ad(userID))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
