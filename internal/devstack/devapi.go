package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Sent is one message or document the bot sent, as /_dev/sent reports it.
type Sent struct {
	Seq          int    `json:"seq"`
	Method       string `json:"method"`
	ChatID       int64  `json:"chat_id"`
	Text         string `json:"text"`
	ReplyMarkup  string `json:"reply_markup,omitempty"`
	DocumentName string `json:"document_name,omitempty"`
	Document     []byte `json:"document,omitempty"`
	// MessageID is the message's id (/_dev/outbox only): the one the fake
	// assigned to a message sent, the one an edit changed.
	MessageID int64 `json:"message_id,omitempty"`
}

// devRoutes serves what `devbot say` and `devbot demo` need from a running
// stack. They exist only in devbot dev, never in serve.
func (s *Stack) devRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_dev/ping", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	// How the stack is set up: the demo plays its build only on the
	// scripted model.
	mux.HandleFunc("GET /_dev/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, Info{Model: s.Model, LLMModel: s.Config.LLMModel})
	})
	// The replies sent so far, from seq "after" on.
	mux.HandleFunc("GET /_dev/sent", func(w http.ResponseWriter, r *http.Request) {
		if s.BotAPI == nil {
			http.Error(w, "replies go to the real Telegram (TELEGRAM_BOT_TOKEN is set)", http.StatusNotFound)
			return
		}
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		writeJSON(w, s.sent(after))
	})
	// Everything the bot did to the chats from seq "after" on: messages and
	// documents sent, and messages edited (text or buttons), with message
	// ids, so that devbot say can follow a reply edited in place and press
	// its buttons. Seq here counts every Bot API call.
	mux.HandleFunc("GET /_dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		if s.BotAPI == nil {
			http.Error(w, "replies go to the real Telegram (TELEGRAM_BOT_TOKEN is set)", http.StatusNotFound)
			return
		}
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		writeJSON(w, s.outbox(after))
	})
	// Stores a file in the fake Bot API, as if a user had sent it; answers its file_id.
	mux.HandleFunc("POST /_dev/file", func(w http.ResponseWriter, r *http.Request) {
		if s.BotAPI == nil {
			http.Error(w, "uploads need the fake Bot API (unset TELEGRAM_BOT_TOKEN)", http.StatusNotFound)
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 20<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		writeJSON(w, map[string]any{"file_id": s.BotAPI.AddFile(data), "file_size": len(data)})
	})
	// What the database recorded for a Telegram user: balance, ledger, jobs.
	mux.HandleFunc("GET /_dev/state", func(w http.ResponseWriter, r *http.Request) {
		tgID, _ := strconv.ParseInt(r.URL.Query().Get("telegram_id"), 10, 64)
		st, err := s.userState(r, tgID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, st)
	})
}

func (s *Stack) sent(after int) []Sent {
	var out []Sent
	// An edit (a "Working on" message turned into the result) is a reply
	// of its own here, so that say --wait and the demo see the result.
	for i, c := range s.BotAPI.Calls("sendMessage", "sendDocument", "editMessageText") {
		if i+1 <= after {
			continue
		}
		out = append(out, Sent{Seq: i + 1, Method: c.Method, ChatID: c.ChatID(), Text: c.Text(),
			ReplyMarkup: c.Params["reply_markup"], DocumentName: c.DocumentName, Document: c.Document})
	}
	return out
}

// outbox lists the calls from seq after on that change what a chat shows.
// The fake numbers a sent message by its call's position, which is its seq.
func (s *Stack) outbox(after int) []Sent {
	out := []Sent{}
	for i, c := range s.BotAPI.Calls() {
		seq := i + 1
		if seq <= after {
			continue
		}
		m := Sent{Seq: seq, Method: c.Method, ChatID: c.ChatID(), Text: c.Text(), ReplyMarkup: c.Params["reply_markup"],
			DocumentName: c.DocumentName, Document: c.Document}
		switch c.Method {
		case "sendMessage", "sendDocument":
			m.MessageID = int64(seq)
		case "editMessageText", "editMessageReplyMarkup", "editMessageCaption":
			m.MessageID, _ = strconv.ParseInt(c.Params["message_id"], 10, 64)
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// Info is what /_dev/info reports.
type Info struct {
	// Model is ModelScripted or ModelConfigured (which may be none).
	Model string `json:"model"`
	// LLMModel is the editor model's name (LLM_MODEL).
	LLMModel string `json:"llm_model"`
}

// UserState is what /_dev/state reports.
type UserState struct {
	Balance int64       `json:"balance"`
	Held    int64       `json:"held"`
	Ledger  []LedgerRow `json:"ledger"`
	Jobs    []JobRow    `json:"jobs"`
	// Build is the user's newest build, if any.
	Build *BuildRow `json:"build,omitempty"`
}

// BuildRow is a build as the database recorded it.
type BuildRow struct {
	ID               int64     `json:"id"`
	State            string    `json:"state"`
	Title            string    `json:"title"` // the spec's
	EstimateCredits  int64     `json:"estimate_credits"`
	ChargedCredits   int64     `json:"charged_credits"`
	Held             int64     `json:"held"` // what is left of its hold
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	Tasks            []TaskRow `json:"tasks"`
}

// TaskRow is one task of a build: its state, its rounds, what it was
// charged, and the reasons the review gave when it rejected a round.
type TaskRow struct {
	N              int      `json:"n"`
	Title          string   `json:"title"`
	State          string   `json:"state"`
	Rounds         int      `json:"rounds"`
	ChargedCredits int64    `json:"charged_credits"`
	Rejections     []string `json:"rejections,omitempty"`
}

// LedgerRow is one ledger entry.
type LedgerRow struct {
	Amount      int64  `json:"amount"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Mock        bool   `json:"mock"`
}

// JobRow is one refinement's recorded outcome.
type JobRow struct {
	ID             int64   `json:"id"`
	Path           string  `json:"path"`
	Mode           string  `json:"mode"`
	State          string  `json:"state"`
	BaseVersion    *int    `json:"base_version"`
	ResultVersion  *int    `json:"result_version"`
	AfterSHA256    *string `json:"after_sha256"`
	ChargedCredits int64   `json:"charged_credits"`
	DurationMS     *int64  `json:"duration_ms"`
	Error          *string `json:"error"`
	Replied        bool    `json:"replied"`
	// A project job's change set: the revision it made and its files.
	Revision *int64   `json:"revision,omitempty"`
	Files    []string `json:"files,omitempty"`
}

func (s *Stack) userState(r *http.Request, telegramID int64) (UserState, error) {
	ctx := r.Context()
	u, err := db.UserByTelegramID(ctx, s.DB.Pool, telegramID)
	if err != nil {
		return UserState{}, err
	}
	st := UserState{Balance: u.Balance, Held: u.Held}
	entries, err := db.RecentLedger(ctx, s.DB.Pool, u.ID, 10)
	if err != nil {
		return UserState{}, err
	}
	for _, e := range entries {
		st.Ledger = append(st.Ledger, LedgerRow{Amount: e.Amount, Kind: e.Kind, Description: e.Description, Mock: e.Mock})
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id FROM refine_jobs WHERE user_id = $1 ORDER BY id DESC LIMIT 10`, u.ID)
	if err != nil {
		return UserState{}, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return UserState{}, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		j, err := db.GetJob(ctx, s.DB.Pool, id)
		if err != nil {
			return UserState{}, err
		}
		row := JobRow{ID: j.ID, Path: j.Path, Mode: j.Mode, State: j.State, BaseVersion: j.BaseVersion,
			ResultVersion: j.ResultVersion, AfterSHA256: j.AfterSHA256, ChargedCredits: j.ChargedCredits,
			DurationMS: j.DurationMS, Error: j.Error, Replied: j.ReplySentAt != nil}
		if j.ChangeSetID != nil {
			c, err := db.GetChangeSet(ctx, s.DB.Pool, j.ProjectID, *j.ChangeSetID)
			if err != nil {
				return UserState{}, err
			}
			vs, err := db.ChangeSetFiles(ctx, s.DB.Pool, c.ID)
			if err != nil {
				return UserState{}, err
			}
			row.Revision = &c.ResultRevision
			for _, v := range vs {
				row.Files = append(row.Files, fmt.Sprintf("%s v%d (%s)", v.Path, v.Version, v.Op()))
			}
		}
		st.Jobs = append(st.Jobs, row)
	}
	if st.Build, err = s.buildState(r, u.ID); err != nil {
		return UserState{}, err
	}
	return st, nil
}

// buildState is the user's newest build, nil when there is none.
func (s *Stack) buildState(r *http.Request, userID int64) (*BuildRow, error) {
	ctx := r.Context()
	b, err := db.LatestBuild(ctx, s.DB.Pool, userID)
	if errors.Is(err, fault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var spec struct {
		Title string `json:"title"`
	}
	_ = json.Unmarshal(b.Spec, &spec)
	held, err := db.BuildHeld(ctx, s.DB.Pool, b.ID)
	if err != nil {
		return nil, err
	}
	row := &BuildRow{ID: b.ID, State: b.State, Title: spec.Title, EstimateCredits: b.EstimateCredits, ChargedCredits: b.ChargedCredits,
		Held: held, PromptTokens: b.PromptTokens, CompletionTokens: b.CompletionTokens, Tasks: []TaskRow{}}
	tasks, err := db.BuildTasks(ctx, s.DB.Pool, b.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		var task struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal(t.Task, &task)
		tr := TaskRow{N: t.N, Title: task.Title, State: t.State, Rounds: t.Round, ChargedCredits: t.ChargedCredits}
		for _, rd := range t.Rounds {
			if !rd.Approved && len(rd.Reasons) > 0 {
				tr.Rejections = append(tr.Rejections, rd.Reasons...)
			}
		}
		row.Tasks = append(row.Tasks, tr)
	}
	return row, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
