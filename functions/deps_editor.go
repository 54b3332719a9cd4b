package functions

import (
	"log/slog"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/llm"
)

// Editor returns the edit engine configured by d.Config (EDIT_BACKEND,
// LLM_*, AIDER_*, MAX_REFLECTIONS). It holds no connection, so it is built
// on each call.
func (d *Deps) Editor() *editor.Editor {
	return NewEditor(d.Config, d.Logger)
}

// NewEditor builds the edit engine from cfg; devbot edit uses it without
// the rest of Deps. A missing key is not an error here: direct edits need
// none, and a user may bring their own.
func NewEditor(cfg *config.Config, logger *slog.Logger) *editor.Editor {
	model := llm.New(llm.Config{
		BaseURL: cfg.LLMBaseURL,
		APIKey:  cfg.LLMAPIKey,
		Model:   cfg.LLMModel,
		Timeout: cfg.LLMTimeout,
		Prices:  cfg.LLMPrices,
	})
	return editor.New(editor.Config{
		Backend:        cfg.EditBackend,
		Model:          model,
		MaxReflections: cfg.MaxReflection,
		Aider: editor.AiderConfig{
			Path:    cfg.AiderPath,
			Timeout: cfg.AiderTimeout,
			BaseURL: cfg.LLMBaseURL,
			APIKey:  cfg.LLMAPIKey,
			Model:   cfg.LLMModel,
		},
		Logger: logger,
	})
}
