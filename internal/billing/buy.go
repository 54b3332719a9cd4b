package billing

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Button is an inline keyboard button: a callback (CallbackData) or a link
// (URL).
type Button struct {
	Text         string
	CallbackData string
	URL          string
}

// BuyRequest asks for credit pack Pack (an index into Packs) on behalf of
// the Telegram update UpdateID.
type BuyRequest struct {
	UserID   int64
	ChatID   int64
	UpdateID int64
	Pack     int
}

// BuyResult is what /buy did: a Checkout URL to send, or (mock payments)
// credits already added.
type BuyResult struct {
	CheckoutURL string
	Credited    int64
	Mock        bool
	// Balance after a mock credit.
	Balance int64
	Pack    config.CreditPack
}

// CallbackPrefix starts the callback data of the pack buttons: "buy:<index>".
const CallbackPrefix = "buy:"

// ParseCallback reads a pack button's callback data; ok=false when data is
// not one.
func ParseCallback(data string) (pack int, ok bool) {
	rest, found := strings.CutPrefix(data, CallbackPrefix)
	if !found || rest == "" || len(rest) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// PacksText is /buy's answer: the offer and one button per pack.
func (s *Service) PacksText() (text string, buttons [][]Button) {
	if len(s.cfg.Packs) == 0 {
		return "No credit packs are on offer right now.", nil
	}
	text = "Pick a credit pack. You pay on Stripe's page and the credits arrive here."
	if s.cfg.Mock {
		text = "Pick a credit pack. Test mode: credits are added at once and no money moves."
	}
	for i, p := range s.cfg.Packs {
		buttons = append(buttons, []Button{{
			Text:         fmt.Sprintf("%d credits · %s", p.Credits, FormatMoney(p.Amount, p.Currency)),
			CallbackData: CallbackPrefix + strconv.Itoa(i),
		}})
	}
	return text, buttons
}

// BuyReply is the answer to a pack button: a link to pay, or the credit.
func BuyReply(r BuyResult) (text string, buttons [][]Button) {
	if r.Mock {
		return fmt.Sprintf("✅ %s added (test mode: no money moved). Balance: %s.",
			credits(r.Credited), credits(r.Balance)), nil
	}
	return fmt.Sprintf("%s for %s. Pay on Stripe's page; I will tell you when the credits arrive.",
			credits(r.Pack.Credits), FormatMoney(r.Pack.Amount, r.Pack.Currency)),
		[][]Button{{{Text: "Pay " + FormatMoney(r.Pack.Amount, r.Pack.Currency), URL: r.CheckoutURL}}}
}

// IdempotencyKey is the Stripe idempotency key of a /buy: derived from the
// Telegram update, so a redelivered update gets the same Checkout Session
// instead of a second one.
func IdempotencyKey(r BuyRequest) string {
	return fmt.Sprintf("devbot-buy-u%d-upd%d-p%d", r.UserID, r.UpdateID, r.Pack)
}

// Buy starts a purchase of one credit pack. With mock payments it credits at
// once (idempotent on the update); otherwise it creates a Checkout Session,
// records it as a pending payment and returns its URL. An unknown pack is
// fault.ErrInvalid.
func (s *Service) Buy(ctx context.Context, r BuyRequest) (res BuyResult, err error) {
	defer fault.Wrap(&err, "Buy(user %d, update %d, pack %d)", r.UserID, r.UpdateID, r.Pack)
	if r.Pack < 0 || r.Pack >= len(s.cfg.Packs) {
		return BuyResult{}, fault.AsPermanent(fmt.Errorf("%w: there is no credit pack %d", fault.ErrInvalid, r.Pack))
	}
	if r.UpdateID <= 0 || r.UserID <= 0 {
		// The update id is the idempotency key: without it a redelivery
		// would buy twice.
		return BuyResult{}, fault.AsPermanent(fmt.Errorf("%w: a purchase needs the user and the Telegram update that asked", fault.ErrInvalid))
	}
	pack := s.cfg.Packs[r.Pack]
	if s.cfg.Mock {
		return s.buyMock(ctx, r, pack)
	}
	if s.stripe == nil {
		return BuyResult{}, errors.New("billing: Stripe is not configured (STRIPE_SECRET_KEY) and mock payments are off")
	}
	meta := map[string]string{
		"user_id":            strconv.FormatInt(r.UserID, 10),
		"credits":            strconv.FormatInt(pack.Credits, 10),
		"telegram_update_id": strconv.FormatInt(r.UpdateID, 10),
	}
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(strconv.FormatInt(r.UserID, 10)),
		SuccessURL:        stripe.String(s.cfg.SuccessURL),
		CancelURL:         stripe.String(s.cfg.CancelURL),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(pack.Currency),
				UnitAmount:  stripe.Int64(pack.Amount),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(fmt.Sprintf("%d devbot credits", pack.Credits))},
			},
			Quantity: stripe.Int64(1),
		}},
		Metadata: meta,
		// Copied onto the payment intent so an operator looking at a refund
		// or dispute in the Dashboard sees whose credits they were.
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta},
	}
	params.SetIdempotencyKey(IdempotencyKey(r))
	sess, err := s.stripe.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return BuyResult{}, classifyStripe(err)
	}
	if sess.ID == "" || sess.URL == "" {
		return BuyResult{}, fault.Retryablef("stripe returned a Checkout Session without id or url")
	}
	// The webhook would record the payment anyway; recording it now lets
	// /balance and operators see purchases that were started but not paid.
	if _, _, err := db.InsertPayment(ctx, s.db.Pool, db.NewPayment{
		UserID: r.UserID, Provider: db.ProviderStripe, CheckoutSessionID: sess.ID,
		Credits: pack.Credits, Amount: pack.Amount, Currency: pack.Currency, Status: db.PaymentPending,
		SourceUpdateID: r.UpdateID,
	}); err != nil {
		return BuyResult{}, err
	}
	s.log.InfoContext(ctx, "checkout session created", "user_id", r.UserID, "session", sess.ID, "credits", pack.Credits)
	return BuyResult{CheckoutURL: sess.URL, Pack: pack}, nil
}

func (s *Service) buyMock(ctx context.Context, r BuyRequest, pack config.CreditPack) (BuyResult, error) {
	var bal int64
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		pay, inserted, err := db.InsertPayment(ctx, tx, db.NewPayment{
			UserID: r.UserID, Provider: db.ProviderMock, Credits: pack.Credits, Amount: pack.Amount,
			Currency: pack.Currency, Status: db.PaymentPaid, SourceUpdateID: r.UpdateID,
		})
		if err != nil {
			return err
		}
		if !inserted {
			if pay, err = db.PaymentByUpdate(ctx, tx, r.UpdateID); err != nil {
				return err
			}
		}
		if _, err := db.AddLedgerEntry(ctx, tx, db.LedgerEntry{
			UserID: r.UserID, Amount: pay.Credits, Kind: db.KindPurchase,
			Cause: fmt.Sprintf("mock:%d", r.UpdateID), PaymentID: &pay.ID,
			Description: "purchase", Mock: true,
		}); err != nil {
			return err
		}
		u, err := db.UserByID(ctx, tx, r.UserID)
		bal = u.Balance
		return err
	})
	if err != nil {
		return BuyResult{}, err
	}
	s.log.InfoContext(ctx, "mock purchase credited", "user_id", r.UserID, "credits", pack.Credits, "update_id", r.UpdateID)
	return BuyResult{Credited: pack.Credits, Mock: true, Balance: bal, Pack: pack}, nil
}

// credits formats a number of credits.
func credits(n int64) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d credit", n)
	}
	return fmt.Sprintf("%d credits", n)
}

// zeroDecimal lists Stripe's currencies without a minor unit.
var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
	"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true,
	"xof": true, "xpf": true}

var symbols = map[string]string{"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}

// FormatMoney shows an amount in the smallest currency unit the way a person
// reads it: 500 usd is "$5.00", 500 jpy "¥500", 500 chf "5.00 CHF".
func FormatMoney(amount int64, currency string) string {
	cur := strings.ToLower(currency)
	neg := ""
	if amount < 0 {
		neg, amount = "-", -amount
	}
	num := strconv.FormatInt(amount, 10)
	if !zeroDecimal[cur] {
		num = fmt.Sprintf("%d.%02d", amount/100, amount%100)
	}
	if sym, ok := symbols[cur]; ok {
		return neg + sym + num
	}
	return neg + num + " " + html.EscapeString(strings.ToUpper(cur))
}
