// Package emulatortest runs the Google Cloud Pub/Sub emulator for a test
// (see package emulator): on a free port, in its own process group, killed
// with the test. A missing emulator fails the test, never skips it: CI must
// not pass without running the integration tests.
package emulatortest

import (
	"testing"

	"github.com/devbot-hq/devbot/internal/events/emulator"
)

// StartupTimeout bounds the emulator's start.
const StartupTimeout = emulator.StartupTimeout

// Emulator is a running emulator.
type Emulator struct {
	// Host is host:port, the value of PUBSUB_EMULATOR_HOST.
	Host string
}

// Launcher finds the emulator's launcher script through gcloud.
func Launcher() (string, error) { return emulator.Launcher() }

// Start starts an emulator for t and stops it (the whole process group) at
// cleanup. It fails t if the emulator is missing or does not start.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e, err := emulator.Start()
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Logf("emulatortest: %v", err)
		}
	})
	return &Emulator{Host: e.Host}
}
