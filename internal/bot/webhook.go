package bot

import (
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// MaxUpdateBytes caps a webhook body. Updates are a few KB; a document's
// bytes never travel in an update.
const MaxUpdateBytes = 1 << 20

// Webhook is the TelegramWebhook function: it checks Telegram's secret
// token, publishes the raw update to telegram-updates (ordering key: the
// chat) and answers 200 only once the publish is confirmed.
type Webhook struct {
	Secret    string
	Publisher Publisher
	Logger    *slog.Logger
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if h.Secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(h.Secret)) != 1 {
		h.Logger.WarnContext(r.Context(), "webhook request with a wrong secret token", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUpdateBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			// Never non-2xx for content: Telegram would hold back the
			// chat's later updates behind this one.
			h.Logger.WarnContext(r.Context(), "webhook body over the cap, dropped", "limit", MaxUpdateBytes)
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	u, err := telegram.ParseUpdate(body)
	if err != nil || u.UpdateID == 0 {
		h.Logger.WarnContext(r.Context(), "webhook body is not an update, acked", "bytes", len(body))
		w.WriteHeader(http.StatusOK)
		return
	}
	out := events.Outgoing{Data: body, Attributes: map[string]string{"update_id": strconv.FormatInt(u.UpdateID, 10)}}
	if chat := u.ChatID(); chat != 0 {
		out.OrderingKey = strconv.FormatInt(chat, 10)
	}
	id, err := h.Publisher.Publish(r.Context(), out)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "publishing the update failed; Telegram will retry",
			"update_id", u.UpdateID, "error", err.Error())
		http.Error(w, "publish failed", http.StatusServiceUnavailable)
		return
	}
	h.Logger.InfoContext(r.Context(), "update published", "update_id", u.UpdateID, "message_id", id)
	w.WriteHeader(http.StatusOK)
}
