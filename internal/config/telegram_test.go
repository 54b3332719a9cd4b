package config_test

import (
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
)

// Telegram's limits are on wherever replies reach Telegram, off for a fake
// in development unless set; TelegramRate shares the bot's budget.
func TestTelegramLimitDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		rate, chat float64
	}{
		{"development, Telegram's API", map[string]string{}, 25, 1},
		{"development, a fake", map[string]string{"TELEGRAM_API_URL": "http://127.0.0.1:9/_telegram"}, 0, 0},
		{"production, a local Bot API server", map[string]string{"ENVIRONMENT": "production", "TELEGRAM_API_URL": "http://127.0.0.1:8081"}, 25, 1},
		{"production, shared by 50", map[string]string{"ENVIRONMENT": "production", "TELEGRAM_INSTANCES": "50"}, 0.5, 1},
		{"production, off", map[string]string{"ENVIRONMENT": "production", "TELEGRAM_MAX_RATE": "0", "TELEGRAM_CHAT_RATE": "0"}, 0, 0},
		{"a fake, on", map[string]string{"TELEGRAM_API_URL": "http://127.0.0.1:9", "TELEGRAM_MAX_RATE": "10", "TELEGRAM_CHAT_RATE": "0.5",
			"TELEGRAM_INSTANCES": "4"}, 2.5, 0.5},
	}
	for _, tt := range tests {
		c, err := config.Load(lookup(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.TelegramRate() != tt.rate || c.TelegramChatRate != tt.chat {
			t.Errorf("%s: rate %v, chat %v; want %v, %v", tt.name, c.TelegramRate(), c.TelegramChatRate, tt.rate, tt.chat)
		}
	}
	_, err := config.Load(lookup(map[string]string{"TELEGRAM_MAX_RATE": "-1", "TELEGRAM_CHAT_RATE": "fast", "TELEGRAM_INSTANCES": "0"}))
	for _, want := range []string{"TELEGRAM_MAX_RATE must be", "TELEGRAM_CHAT_RATE must be", "TELEGRAM_INSTANCES must be"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
