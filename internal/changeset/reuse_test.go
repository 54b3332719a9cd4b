package changeset_test

import (
	"testing"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
)

// A change set may move a file away and put another at its old path (a
// rename and a new file where it was; two files swapped): nothing moved
// meanwhile, so it commits, its diff takes the old tree to the new one,
// and an undo brings the old tree back.
func TestChangeSetReusesAPathItMovedAway(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, reply string
		want        map[string]string
	}{
		{"rename and recreate", "<<<<<<< RENAME a.go -> z.go\n\na.go\n<<<<<<< SEARCH\n=======\npackage shim\n>>>>>>> REPLACE\n",
			map[string]string{"a.go": "package shim\n", "z.go": aGo, "b.go": bGo, "c.go": cGo, "e.go": eGo}},
		{"swap", "<<<<<<< RENAME a.go -> tmp.go\n<<<<<<< RENAME b.go -> a.go\n<<<<<<< RENAME tmp.go -> b.go\n",
			map[string]string{"a.go": bGo, "b.go": aGo, "c.go": cGo, "e.go": eGo}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.upload(startTree())
			s := e.load()
			set, err := editblock.ApplySetFocus(s, tt.reply, "")
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Store(e.ctx, set, 0)
			if err != nil {
				t.Fatal(err)
			}
			cs, _, err := s.Commit(e.ctx, e.d.Pool, st, db.ChangeRefine, nil, "", db.ProjectLimits{})
			if err != nil {
				t.Fatalf("nothing moved since the snapshot, yet Commit = %v (IsConflict %v)", err, changeset.IsConflict(err))
			}
			sameTree(t, "after the commit", e.state(), tt.want)
			diff, err := changeset.Diff(e.ctx, e.d.Pool, e.blobs, e.pid, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, "git apply of the stored diff", gitApply(t, startTree(), diff), tt.want)
			if _, err := changeset.Undo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); err != nil {
				t.Fatalf("undo: %v", err)
			}
			sameTree(t, "after the undo", e.state(), startTree())
		})
	}
}
