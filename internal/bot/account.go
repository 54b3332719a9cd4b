package bot

import (
	"context"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/reply"
)

func (b *Bot) balance(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if b.Billing != nil {
		text, err := b.Billing.BalanceText(ctx, tx, u.ID)
		if err != nil {
			return Plan{}, err
		}
		return done(reply.Reply{HTML: text}), nil
	}
	es, err := db.RecentLedger(ctx, tx, u.ID, 3)
	if err != nil {
		return Plan{}, err
	}
	return done(reply.Reply{HTML: billing.FormatBalance(u, es)}), nil
}

func (b *Bot) buy(ctx context.Context, tx pgx.Tx, u db.User, req Request, prep prepared) (Plan, error) {
	if b.Billing == nil {
		return done(reply.Text("Buying credits is not available yet. /setkey lets you use your own LLM key meanwhile.")), nil
	}
	if prep.buy != nil {
		return done(*prep.buy), nil
	}
	text, buttons := b.Billing.Offer()
	return done(reply.Reply{HTML: text, Buttons: buttons}), nil
}

func (b *Bot) setKey(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	if err := needArgs(req); err != nil {
		return Plan{}, err
	}
	key := req.Args
	if len(key) < 8 || len(key) > 512 || strings.IndexFunc(key, unicode.IsSpace) >= 0 {
		return Plan{}, refuse("That does not look like an API key (one word, 8 to 512 characters). I deleted your message anyway; send /setkey YOUR_KEY again.")
	}
	sealed, err := b.Keys.Seal(u.ID, []byte(key))
	if err != nil {
		return Plan{}, err
	}
	if err := db.SetLLMKey(ctx, tx, u.ID, sealed); err != nil {
		return Plan{}, err
	}
	pl := done(reply.Text("Your key is stored encrypted, and I deleted your message so it does not stay in the chat. " +
		"Refinements now use it; /delkey forgets it."))
	pl.DeleteMessage = req.MessageID
	return pl, nil
}

func (b *Bot) delKey(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	// Without a model of the bot's own, a plain-words change needs a key:
	// say that instead of promising the bot's model.
	noModel := b.cfg.NoModel && b.cfg.EditBackend == db.ModeLLM
	if u.LLMKeyEncrypted == nil {
		if noModel {
			return done(reply.Text("You have no key stored. This bot has no model of its own, so I apply only edits " +
				"you write yourself (SEARCH/REPLACE blocks or a diff); /setkey YOUR_KEY lets me change files from plain words.")), nil
		}
		return done(reply.Text("You have no key stored. Refinements use the bot's model and your credits.")), nil
	}
	if err := db.SetLLMKey(ctx, tx, u.ID, nil); err != nil {
		return Plan{}, err
	}
	if noModel {
		return done(reply.Text("Your key is deleted. This bot has no model of its own, so from now on I apply only " +
			"edits you write yourself (SEARCH/REPLACE blocks or a diff); /setkey YOUR_KEY brings plain-words changes back.")), nil
	}
	return done(reply.Text("Your key is deleted. Refinements use the bot's model again.")), nil
}
