package deploycheck

import (
	"time"

	"github.com/devbot-hq/devbot/functions"
)

// leases: REFINE_LEASE is sized with the handler timeout, and every service
// that reads it (RefineJobs and BuildSteps, which take leases; the Sweeper,
// which judges them expired) agrees on it. A delivery that finds a dead instance's
// lease waits for it, up to lease + lease/3 (functions.RefineLeaseConfig);
// that wait must leave the resumed work at least half of HANDLER_TIMEOUT,
// or a crashed job's redelivery runs out of time and its attempts are
// spent (push ignores Retry-After).
func (c *checker) leases() {
	var first string
	var lease time.Duration
	for _, name := range sortedKeys(c.inf.Services) {
		s := c.inf.Services[name]
		e, ok := s.Env["REFINE_LEASE"]
		if !ok || !e.Known {
			if t := s.Target(); t == functions.RefineJobsName || t == functions.BuildStepsName || t == functions.SweeperName {
				// Left to its default, it could disagree with the others'.
				c.addf("service %s (%s) sets no REFINE_LEASE: RefineJobs, BuildSteps and the Sweeper must all set it, to the same length", s.Name, t)
			}
			continue
		}
		d, err := time.ParseDuration(e.Value)
		if err != nil || d <= 0 {
			c.addf("service %s: REFINE_LEASE=%q is not a positive duration", s.Name, e.Value)
			continue
		}
		if first == "" {
			first, lease = s.Name, d
		} else if d != lease {
			c.addf("service %s: REFINE_LEASE=%s, but %s uses %s: the sweeper would judge leases by another length", s.Name, d, first, lease)
		}
		h, ok := s.Env["HANDLER_TIMEOUT"]
		if !ok || !h.Known {
			continue
		}
		ht, err := time.ParseDuration(h.Value)
		if err != nil {
			continue // reported by deliverySettings
		}
		if wait := d + d/3; wait > ht/2 {
			c.addf("service %s: REFINE_LEASE=%s makes a redelivery wait up to %s for a dead instance's lease, more than half of HANDLER_TIMEOUT=%s",
				s.Name, d, wait, ht)
		}
	}
}
