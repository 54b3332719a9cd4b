package config

import (
	"errors"
	"math"
	"strconv"
)

// TelegramBotAPI is Telegram's own Bot API, TELEGRAM_API_URL's default.
const TelegramBotAPI = "https://api.telegram.org"

// Telegram's flood limits (facts/telegram.md: about 30 messages a second per
// bot, about one a second per chat): the defaults of TELEGRAM_MAX_RATE and
// TELEGRAM_CHAT_RATE when replies go to Telegram for real.
const (
	DefaultTelegramMaxRate  = 25 // under 30: headroom for the bursts
	DefaultTelegramChatRate = 1
)

// TelegramRate is the per-instance budget of sends a second: the bot's
// TELEGRAM_MAX_RATE shared by TELEGRAM_INSTANCES. Zero: no global limit.
func (c *Config) TelegramRate() float64 {
	if c.TelegramMaxRate <= 0 {
		return 0
	}
	return c.TelegramMaxRate / float64(max(c.TelegramInstances, 1))
}

// telegramLimitDefaults applies the rates' defaults: Telegram's limits
// when the replies go to Telegram (in production, or to its Bot API from
// anywhere), none when development points TELEGRAM_API_URL at a fake (the
// tests, devbot dev and its bench): a fake has no limits, and spacing its
// replies a second apart would only slow them down. Set explicitly, a
// value always wins (0: off).
func telegramLimitDefaults(c *Config, get func(string) string) {
	toTelegram := c.Production() || c.TelegramAPIURL == TelegramBotAPI
	if get("TELEGRAM_MAX_RATE") == "" && toTelegram {
		c.TelegramMaxRate = DefaultTelegramMaxRate
	}
	if get("TELEGRAM_CHAT_RATE") == "" && toTelegram {
		c.TelegramChatRate = DefaultTelegramChatRate
	}
}

func rate(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("must be a non-negative number of messages per second (0: no limit)")
		}
		*field(c) = f
		return nil
	}
}

func positiveInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("must be a positive integer")
		}
		*field(c) = n
		return nil
	}
}
