package config_test

import (
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
)

// Skipping the local backend's fsyncs is for a throwaway stack only: it
// parses in development and is refused in production.
func TestStorageNoSync(t *testing.T) {
	t.Parallel()
	c, err := config.Load(lookup(map[string]string{"STORAGE_BACKEND": "local", "STORAGE_DIR": t.TempDir(), "STORAGE_NO_SYNC": "true"}))
	if err != nil || !c.StorageNoSync {
		t.Fatalf("development: NoSync %v, err %v", c != nil && c.StorageNoSync, err)
	}
	if c, err := config.Load(lookup(map[string]string{})); err != nil || c.StorageNoSync {
		t.Fatalf("default: NoSync %v, err %v; want off", c != nil && c.StorageNoSync, err)
	}
	_, err = config.Load(lookup(map[string]string{"ENVIRONMENT": "production", "STORAGE_NO_SYNC": "true"}))
	if err == nil || !strings.Contains(err.Error(), "STORAGE_NO_SYNC=true is refused when ENVIRONMENT=production") {
		t.Fatalf("production: %v", err)
	}
}
