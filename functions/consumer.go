package functions

import (
	"net/http"
	"strings"

	"github.com/devbot-hq/devbot/internal/events"
)

// DeadLetterPath is where a consumer's service receives its dead-letter
// topic's push subscription. A message there exhausted its attempts without
// the consumer giving up itself (Eventarc and the emulator send no delivery
// attempt, or the instance died): the consumer's GiveUp fails the job,
// releases its credits and tells the user, so no job stays held forever.
const DeadLetterPath = "/dead-letter"

// consumerHandler serves c at every path but DeadLetterPath (also under
// /<Name>/ when several functions share a server).
func consumerHandler(c *events.Consumer) http.Handler {
	dead := c.DeadLetterHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, DeadLetterPath) {
			dead.ServeHTTP(w, r)
			return
		}
		c.ServeHTTP(w, r)
	})
}
