package bot

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Callback is an inline button's data, "<kind>:<n>": a job's Undo, Show
// full diff and Retry buttons ("undo:42"), a credit pack's ("buy:0").
//
// Every button handler reads its data through ParseCallback, which
// accepts exactly what the buttons carry and nothing more: a known kind,
// a colon, decimal digits without sign, leading zeros or trailing bytes,
// within the kind's bounds. fmt.Sscan-style leniency ("buy:1e3" read as
// pack 1) would let crafted data reach a handler as something else.
type Callback struct {
	Kind string // one of the Callback* kinds
	N    int64  // a job id (≥ 1) or a pack index (≥ 0)
}

// Callback kinds.
const (
	CallbackUndo  = "undo"
	CallbackDiff  = "diff"
	CallbackRetry = "retry"
	CallbackBuy   = "buy"
	// A /history button brings back a version, an undo's button redoes it:
	// both carry a file version's id.
	CallbackRestore = "restore"
	CallbackRedo    = "redo"
	// A project-wide undo's button redoes it: it carries the undo's change
	// set id.
	CallbackRedoSet = "redoset"
	// A build's buttons carry the build's id.
	CallbackBuildStart  = "bstart"
	CallbackBuildChange = "bchange"
	CallbackBuildCancel = "bcancel"
	CallbackBuildPause  = "bpause"
	CallbackBuildResume = "bresume"
	CallbackBuildRetry  = "bretry"
	CallbackBuildSkip   = "bskip"
)

// isBuildCallback reports whether kind is one of a build's buttons.
func isBuildCallback(kind string) bool {
	switch kind {
	case CallbackBuildStart, CallbackBuildChange, CallbackBuildCancel, CallbackBuildPause, CallbackBuildResume,
		CallbackBuildRetry, CallbackBuildSkip:
		return true
	}
	return false
}

// MaxPacks bounds a pack index: no offer has a hundred packs.
const MaxPacks = 100

var callbackBounds = map[string]struct{ min, max int64 }{
	CallbackUndo:    {1, math.MaxInt64},
	CallbackDiff:    {1, math.MaxInt64},
	CallbackRetry:   {1, math.MaxInt64},
	CallbackBuy:     {0, MaxPacks - 1},
	CallbackRestore: {1, math.MaxInt64},
	CallbackRedo:    {1, math.MaxInt64},
	CallbackRedoSet: {1, math.MaxInt64},

	CallbackBuildStart:  {1, math.MaxInt64},
	CallbackBuildChange: {1, math.MaxInt64},
	CallbackBuildCancel: {1, math.MaxInt64},
	CallbackBuildPause:  {1, math.MaxInt64},
	CallbackBuildResume: {1, math.MaxInt64},
	CallbackBuildRetry:  {1, math.MaxInt64},
	CallbackBuildSkip:   {1, math.MaxInt64},
}

var errBadCallback = errors.New("malformed callback data")

// ParseCallback reads a button's data strictly (see Callback).
func ParseCallback(data string) (Callback, error) {
	kind, num, ok := strings.Cut(data, ":")
	bounds, known := callbackBounds[kind]
	if !ok || !known {
		return Callback{}, errBadCallback
	}
	n, ok := parseDecimal(num)
	if !ok || n < bounds.min || n > bounds.max {
		return Callback{}, errBadCallback
	}
	return Callback{Kind: kind, N: n}, nil
}

// String is the callback data of c, what ParseCallback reads back.
func (c Callback) String() string { return c.Kind + ":" + strconv.FormatInt(c.N, 10) }

// parseDecimal reads a non-negative decimal number in canonical form:
// ASCII digits only, no sign, no leading zero (but "0"), no overflow.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// readPack reads /buy's pack argument or a pack button's index with the
// rules of ParseCallback, and checks it against the packs on offer, so a
// refusal names the problem instead of the billing service's "invalid".
func (b *Bot) readPack(req Request, arg string, pack *int) error {
	arg = strings.TrimSpace(arg)
	c, err := ParseCallback(CallbackBuy + ":" + arg)
	if err != nil {
		return refuse("%s is not a pack number. /buy shows the packs as buttons: tap one.", arg)
	}
	offered := 0
	_, rows := b.Billing.Offer()
	for _, row := range rows {
		for _, btn := range row {
			if strings.HasPrefix(btn.Data, CallbackBuy+":") {
				offered++
			}
		}
	}
	if c.N >= int64(offered) {
		if req.CallbackID != "" {
			return refuse("That pack is no longer on offer. /buy shows the current ones.")
		}
		return refuse("There is no pack %s. /buy shows the packs as buttons: tap one.", arg)
	}
	*pack = int(c.N)
	return nil
}
