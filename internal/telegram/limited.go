package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// retries429 is how often a send the Bot API refused with 429 is tried again
// in the same request (after retry_after, within the deadline): a 429 means
// the message was not sent, so sending it again cannot duplicate it, and a
// wait of a second or two is far cheaper than a Pub/Sub redelivery of the
// whole handler.
const retries429 = 2

// WithLimiter returns a copy of c whose sendMessage, editMessageText,
// sendDocument and sendChatAction go through l (nil: none, as New). Other
// methods (answerCallbackQuery, deleteMessage, getFile, ...) are not
// messages and are not limited.
func (c *Client) WithLimiter(l *Limiter) *Client {
	cc := *c
	cc.limiter = l
	return &cc
}

// deadlineBudget is how long a send may wait for its slot: until ctx's
// deadline less some headroom for the request itself; -1 without one.
func deadlineBudget(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	left := time.Until(dl)
	left -= min(left/4, 2*time.Second)
	return max(int64(left), 0)
}

// wait takes chat's next slot for method, sleeping until it comes. A slot
// beyond ctx's deadline is not taken: the error is retryable with a
// Retry-After of the wait, so that the redelivery comes when it can go.
func (l *Limiter) wait(ctx context.Context, method string, chat int64) error {
	start, budget := l.now(), deadlineBudget(ctx)
	w, b, ok := l.book(chat, start, budget)
	if !ok {
		return tooLong(method, chat, w)
	}
	if err := l.sleep(ctx, method, chat, w); err != nil {
		return err
	}
	if !b.pending {
		return nil
	}
	now := l.now()
	if budget >= 0 {
		budget = max(budget-(now-start), 0)
	}
	w, ok = l.finish(b, now, budget)
	if !ok {
		return tooLong(method, chat, w)
	}
	return l.sleep(ctx, method, chat, w)
}

func (l *Limiter) sleep(ctx context.Context, method string, chat, wait int64) error {
	if wait <= 0 {
		return nil
	}
	if err := l.clock.Sleep(ctx, time.Duration(wait)); err != nil {
		return fault.AsRetryable(fmt.Errorf("telegram %s: waiting for chat %d's turn: %w", method, chat, err))
	}
	return nil
}

func tooLong(method string, chat, wait int64) error {
	d := time.Duration(wait)
	return fault.RetryAfter(fmt.Errorf("telegram %s: %w: chat %d's next message may go in %s, after this request's deadline",
		method, fault.ErrRateLimited, chat, d.Round(time.Millisecond)), d)
}

// tooMany returns a 429's retry_after (at least a second), or 0.
func tooMany(err error) time.Duration {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusTooManyRequests {
		return 0
	}
	return max(ae.RetryAfter, time.Second)
}

// limited sends one message to chat through the limiter: it waits for the
// chat's slot, and after a 429 holds the chat for retry_after and, when
// call can be repeated (replay), tries again while the deadline allows.
func (c *Client) limited(ctx context.Context, method string, chat int64, replay bool, call func() error) error {
	l := c.limiter
	if l == nil {
		return call()
	}
	for attempt := 0; ; attempt++ {
		if err := l.wait(ctx, method, chat); err != nil {
			return err
		}
		err := call()
		ra := tooMany(err)
		if ra == 0 {
			return err
		}
		l.block(chat, ra)
		if !replay || attempt == retries429 {
			return err
		}
	}
}

// chatAction sends a chat action unless one went to chat less than
// TypingEvery ago (or the bot is short of budget): then it does nothing and
// says nil, as the status shown is still on. A 429 holds the chat; an action
// is cosmetic, so it is not retried.
func (c *Client) chatAction(ctx context.Context, chat int64, call func() error) error {
	l := c.limiter
	if l == nil {
		return call()
	}
	wait, ok := l.typing(chat, l.now())
	if !ok {
		return nil
	}
	if err := l.sleep(ctx, "sendChatAction", chat, wait); err != nil {
		return err
	}
	err := call()
	if ra := tooMany(err); ra > 0 {
		l.block(chat, ra)
	}
	return err
}
