package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/devbot-hq/devbot/internal/editblock"
)

// dirTree is a directory as the tree a change set applies to: its regular
// files, by slash-separated path relative to the root. Symbolic links and
// .git are left out: a link could lead outside the tree.
type dirTree struct {
	root  string
	paths []string
	modes map[string]fs.FileMode
}

func readDirTree(root string) (*dirTree, error) {
	t := &dirTree{root: root, modes: map[string]fs.FileMode{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		t.paths = append(t.paths, rel)
		t.modes[rel] = info.Mode().Perm()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	return t, nil
}

func (t *dirTree) Paths() []string { return t.paths }

func (t *dirTree) Read(p string) ([]byte, error) {
	return os.ReadFile(filepath.Join(t.root, filepath.FromSlash(p)))
}

// editDir applies a reply to the tree at dir: with diff, prints the change
// set's git-style diff and writes nothing; else writes every change or, if
// one cannot be written, none, and lists the changes.
func editDir(e env, dir, response string, diff bool) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	tree, err := readDirTree(dir)
	if err != nil {
		return err
	}
	reply, err := readResponse(e, response)
	if err != nil {
		return err
	}
	cs, err := editblock.ApplySet(tree, reply)
	if err != nil {
		return refused(e, err)
	}
	if diff {
		_, err = io.WriteString(e.stdout, cs.Diff)
		return err
	}
	if err := writeChangeSet(tree, cs); err != nil {
		return err
	}
	for _, f := range cs.Files {
		if f.Op == editblock.Renamed {
			fmt.Fprintf(e.stdout, "renamed %s -> %s\n", f.OldPath, f.Path)
		} else {
			fmt.Fprintf(e.stdout, "%s %s\n", f.Op, f.Path)
		}
	}
	return nil
}

// Seams for tests that make a write fail half-way.
var (
	renameFile = os.Rename
	removeFile = os.Remove
)

// writeChangeSet writes a change set under the tree's root as nearly all or
// nothing as a file system allows: every new content goes to a temporary
// file beside its target first (a failure there removes them and leaves
// the tree as it was); then the temporary files are renamed into place and
// deleted files removed, and a failure in that phase puts back what it
// had already changed, from the contents the change set holds.
func writeChangeSet(t *dirTree, cs editblock.ChangeSet) (err error) {
	root, err := filepath.EvalSymlinks(t.root)
	if err != nil {
		return err
	}
	type write struct {
		fc   editblock.FileChange
		dst  string
		tmp  string
		mode fs.FileMode
	}
	var (
		writes  []*write
		removes []string // old paths to remove: deleted files, renamed files' old names
		madeDir []string // directories created, to remove on failure
	)
	cleanup := func() {
		for _, w := range writes {
			if w.tmp != "" {
				_ = os.Remove(w.tmp)
			}
		}
		for i := len(madeDir) - 1; i >= 0; i-- {
			_ = os.Remove(madeDir[i])
		}
	}
	abs := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	written := map[string]bool{}
	for _, fc := range cs.Files {
		if fc.Op != editblock.Deleted {
			written[fc.Path] = true
		}
	}
	for _, fc := range cs.Files {
		if (fc.Op == editblock.Deleted || fc.Op == editblock.Renamed) && !written[fc.OldPath] {
			// (A renamed file's old path may hold a new file.)
			removes = append(removes, fc.OldPath)
		}
		if fc.Op == editblock.Deleted {
			continue
		}
		w := &write{fc: fc, dst: abs(fc.Path), mode: 0o644}
		if m, ok := t.modes[fc.OldPath]; ok && fc.OldPath != "" {
			w.mode = m
		}
		writes = append(writes, w)
	}
	// Phase 1: temporary files, each in its target's directory (so that the
	// rename is atomic), inside the root whatever links the tree holds.
	for _, w := range writes {
		made, err := mkdirInside(root, filepath.Dir(w.dst))
		madeDir = append(madeDir, made...)
		if err != nil {
			cleanup()
			return err
		}
		if fi, err := os.Lstat(w.dst); err == nil && !fi.Mode().IsRegular() {
			cleanup()
			return fmt.Errorf("%s exists and is not a regular file: nothing was written", w.fc.Path)
		}
		f, err := os.CreateTemp(filepath.Dir(w.dst), ".devbot-edit-*")
		if err != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w (nothing was written)", w.fc.Path, err)
		}
		w.tmp = f.Name()
		_, werr := f.Write(w.fc.New)
		cerr := f.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(w.tmp, w.mode)
		}
		if werr != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w (nothing was written)", w.fc.Path, werr)
		}
	}
	// Phase 2: into place. What was done is undone on a failure.
	var undo []func()
	rollback := func(cause error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		cleanup()
		return fmt.Errorf("%w (the changes written before it were undone)", cause)
	}
	old := map[string]editblock.FileChange{}
	for _, fc := range cs.Files {
		if fc.OldPath != "" {
			old[fc.OldPath] = fc
		}
	}
	for _, w := range writes {
		if err := renameFile(w.tmp, w.dst); err != nil {
			return rollback(fmt.Errorf("writing %s: %w", w.fc.Path, err))
		}
		w.tmp = ""
		fc := w.fc
		undo = append(undo, func() {
			if prev, ok := old[fc.Path]; ok && prev.Op != editblock.Renamed {
				_ = os.WriteFile(abs(fc.Path), prev.Old, t.modes[fc.Path])
			} else {
				_ = os.Remove(abs(fc.Path))
			}
		})
	}
	for _, p := range removes {
		if err := removeFile(abs(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rollback(fmt.Errorf("removing %s: %w", p, err))
		}
		fc := old[p]
		undo = append(undo, func() { _ = os.WriteFile(abs(p), fc.Old, t.modes[p]) })
	}
	// Folders the deletions and renames emptied go too, as git leaves none.
	for _, p := range removes {
		for d := filepath.Dir(abs(p)); d != root && strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	return nil
}

// mkdirInside creates dir and its missing parents, refusing any that is
// not a real directory inside root (a link could lead outside it). It
// returns the directories it created, outermost first.
func mkdirInside(root, dir string) ([]string, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside %s: nothing was written", dir, root)
	}
	var made []string
	cur := root
	if rel == "." {
		return nil, nil
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return made, fmt.Errorf("%s is not a folder (a file or a link is there): nothing was written", cur)
		case !errors.Is(err, fs.ErrNotExist):
			return made, err
		}
		if err := os.Mkdir(cur, 0o755); err != nil {
			return made, fmt.Errorf("creating %s: %w (nothing was written)", cur, err)
		}
		made = append(made, cur)
	}
	return made, nil
}
