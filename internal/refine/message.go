package refine

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Message is what the refine-jobs topic carries: the job's id only; the job
// row is the truth.
type Message struct {
	JobID int64 `json:"job_id"`
}

// Outgoing is the message that asks RefineJobs to run j. The ordering key
// project/path serializes the jobs of one file.
func Outgoing(j db.Job) events.Outgoing {
	data, _ := json.Marshal(Message{JobID: j.ID})
	return events.Outgoing{
		Data:        data,
		OrderingKey: j.ProjectID + "/" + j.Path,
		Attributes:  map[string]string{"job_id": strconv.FormatInt(j.ID, 10)},
	}
}

// ParseMessage decodes a job message; anything else is permanent.
func ParseMessage(data []byte) (int64, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fault.Permanentf("refine: %w: job message: %w", fault.ErrInvalid, err)
	}
	if m.JobID <= 0 {
		return 0, fault.Permanentf("refine: %w: job message without a job id", fault.ErrInvalid)
	}
	return m.JobID, nil
}

// Summary is the first line of a successful job's reply:
// "✅ cmd/main.go → version 2 (1 edit, 3 credits, 4.2 s)"; the edits are the
// blocks the editor applied, as recorded on the job (a job recorded before
// they were leaves them out).
func Summary(j db.Job) string {
	parts := []string{}
	if j.EditBlocks != nil && *j.EditBlocks > 0 {
		parts = append(parts, plural(*j.EditBlocks, "edit"))
	}
	parts = append(parts, plural(int(j.ChargedCredits), "credit"))
	if j.DurationMS != nil {
		parts = append(parts, fmt.Sprintf("%.1f s", float64(*j.DurationMS)/1000))
	}
	v := 0
	if j.ResultVersion != nil {
		v = *j.ResultVersion
	}
	s := fmt.Sprintf("✅ %s → version %d (", j.Path, v)
	for i, p := range parts {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s + ")"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
