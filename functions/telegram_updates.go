package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/storage"
)

// buildTelegramUpdates: the commands, as a Pub/Sub push consumer.
func buildTelegramUpdates(ctx context.Context, d *Deps) (http.Handler, error) {
	pool, err := d.DB(ctx)
	if err != nil {
		return nil, err
	}
	files, err := d.Storage()
	if err != nil {
		return nil, err
	}
	jobs, err := d.Publisher(ctx, d.Config.TopicRefineJobs)
	if err != nil {
		return nil, err
	}
	builds, err := d.Publisher(ctx, d.Config.TopicBuildSteps)
	if err != nil {
		return nil, err
	}
	keys, err := d.Keys()
	if err != nil {
		return nil, err
	}
	svc, err := d.Billing(ctx)
	if err != nil {
		return nil, err
	}
	c := d.Config
	b := bot.New(bot.Config{
		WelcomeCredits: c.FreeCredits, BaseRefineCredits: c.BaseRefineCredits, MaxRefineCredits: c.MaxRefineCredits,
		RefineRateLimit: c.RefineRateLimit, RefineRateWindow: c.RefineRateWindow, MaxFileBytes: c.MaxFileBytes,
		MaxProjectFiles: c.MaxProjectFiles, MaxProjectBytes: c.MaxProjectBytes,
		EditBackend: c.EditBackend, NoModel: c.LLMAPIKey == "",
	}, bot.Deps{
		DB: pool, Telegram: d.Telegram(), Files: files, Jobs: jobs, Builds: builds, Keys: keys, Billing: botBilling{svc},
		ValidatePath: storage.ValidatePath, IsDirect: editblock.IsDirect, Logger: d.Logger,
	})
	return d.consumer(ctx, bot.Consumer, b.Handle, b.GiveUp)
}
