package devstack

import (
	"context"
	"errors"

	"github.com/devbot-hq/devbot/functions"
)

func (s *Stack) startEmulatorSubscriptions(ctx context.Context, deps *functions.Deps) error {
	return errors.New("--pubsub=emulator is not available yet; use the embedded Pub/Sub")
}
