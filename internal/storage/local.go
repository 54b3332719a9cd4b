package storage

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Local is a Backend on a directory, for `devbot dev` and tests. Layout:
//
//	<dir>/objects/<bucket>/<key>   the bytes (browse these; never edit them
//	                               in place: a plain copy may be the very
//	                               file of a blob, see Copy)
//	<dir>/meta/<bucket>/<key>      the content type, only of an object whose
//	                               file cannot carry it (see below)
//	<dir>/tmp/                     writes in progress
//
// An object's content type is an extended attribute of its file, so the
// bytes and their type are replaced together by one rename and made durable
// by one fsync. Where the filesystem refuses the attribute (or the type is
// too long for one) the type goes to the meta file; a file without the
// attribute takes its type from there.
//
// Differences from Supabase that callers must not rely on: a key cannot be
// both a file and a folder ("a" and "a/b"), which is a conflict here, and
// listing is case-sensitive.
type Local struct {
	dir string
	// root confines every access to dir, even through symbolic links. It
	// is opened once: opening it per call cost as much as the writes.
	root *os.Root
	// NoSync skips the fsync of new files: for a stack whose data is
	// thrown away on exit (devbot bench), as its PostgreSQL cluster runs
	// with fsync=off; a crash of the machine may then lose bytes the
	// database names.
	NoSync bool
}

// NewLocal returns a Local rooted at dir, creating it if needed.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: NewLocal(%q): %w", dir, err)
	}
	for _, sub := range []string{"objects", "meta", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o750); err != nil {
			return nil, fmt.Errorf("storage: NewLocal(%q): %w", dir, err)
		}
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("storage: NewLocal(%q): %w", dir, err)
	}
	return &Local{dir: abs, root: root}, nil
}

// Dir is the root directory.
func (l *Local) Dir() string { return l.dir }

// Close releases the directory; the Local is unusable afterwards.
func (l *Local) Close() error { return l.root.Close() }

// keyLocks serialize a replacement of a key against its readers where the
// content type is in a meta file (two files to see together). They are
// package-level because the filesystem is: two Locals on one directory must
// share them.
var (
	keyLocks    [256]sync.RWMutex
	keyLockSeed = maphash.MakeSeed()
)

func (l *Local) lock(bucket, key string) *sync.RWMutex {
	return &keyLocks[maphash.String(keyLockSeed, l.dir+"\x00"+bucket+"\x00"+key)%uint64(len(keyLocks))]
}

func objectPath(bucket, key string) string { return path.Join("objects", bucket, key) }
func metaPath(bucket, key string) string   { return path.Join("meta", bucket, key) }

func bucketMissing(bucket string) error {
	return fault.AsPermanent(fmt.Errorf("%w: bucket %s not found", fault.ErrNotFound, bucket))
}

func (l *Local) bucketExists(bucket string) (bool, error) {
	fi, err := l.root.Stat(path.Join("objects", bucket))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// Get implements Backend.
func (l *Local) Get(ctx context.Context, bucket, key string) (_ Object, err error) {
	defer fault.Wrap(&err, "Get(%s, %q)", bucket, key)
	if err := validateKeys(bucket, key); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	mu := l.lock(bucket, key)
	mu.RLock()
	defer mu.RUnlock()

	f, err := l.root.Open(objectPath(bucket, key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Object{}, l.missing(bucket)
		}
		return Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if !fi.Mode().IsRegular() {
		return Object{}, l.missing(bucket)
	}
	if fi.Size() > MaxObjectBytes {
		return Object{}, tooLarge("the object", fi.Size(), MaxObjectBytes)
	}
	data := make([]byte, fi.Size())
	if _, err := readFull(f, data); err != nil {
		return Object{}, err
	}
	sum := md5.Sum(data)
	return Object{Data: data, ContentType: l.contentType(f, metaPath(bucket, key)), Size: int64(len(data)),
		ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: fi.ModTime().UTC()}, nil
}

// contentType is the type on the open file f, else the one in its meta file
// (at meta), else the default.
func (l *Local) contentType(f *os.File, meta string) string {
	if ct, ok := fileType(f); ok {
		return ct
	}
	if b, err := l.root.ReadFile(meta); err == nil && len(b) > 0 {
		return string(b)
	}
	return defaultContentType
}

func readFull(f *os.File, data []byte) (int, error) {
	n := 0
	for n < len(data) {
		m, err := f.Read(data[n:])
		n += m
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
	}
	return n, nil
}

func (l *Local) missing(bucket string) error {
	ok, err := l.bucketExists(bucket)
	if err != nil {
		return err
	}
	if !ok {
		return bucketMissing(bucket)
	}
	return fault.AsPermanent(fmt.Errorf("%w: object not found", fault.ErrNotFound))
}

// Put implements Backend. The bytes and their type are written to a
// temporary file, made durable, and renamed into place (or hard-linked,
// without Upsert, so that an existing object is never replaced even by
// another process).
func (l *Local) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) (err error) {
	defer fault.Wrap(&err, "Put(%s, %q)", bucket, key)
	if err := validatePut(bucket, key, data); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ct := contentTypeOr(opts.ContentType)
	tmp, typed, err := l.writeTemp(data, ct)
	if err != nil {
		return err
	}
	defer l.root.Remove(tmp) //nolint:errcheck // gone after a rename; best effort otherwise
	return l.place(bucket, key, tmp, ct, typed, opts.Upsert)
}

// place moves the finished temporary file tmp to key, or links it there
// without upsert. typed says whether tmp carries the content type ct.
func (l *Local) place(bucket, key, tmp, ct string, typed, upsert bool) error {
	obj := objectPath(bucket, key)
	mu := l.lock(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	var err error
	// The folders usually exist: try first, and make them only when they
	// do not. Twice, because a Delete of another key removes the folders it
	// empties, possibly just after they were made here.
	for attempt := 0; ; attempt++ {
		if upsert {
			err = l.root.Rename(tmp, obj)
		} else {
			err = l.root.Link(tmp, obj)
		}
		if err == nil || attempt == 2 || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		// MkdirAll would make a missing bucket: Put must refuse it.
		if ok, err := l.bucketExists(bucket); err != nil {
			return err
		} else if !ok {
			return bucketMissing(bucket)
		}
		if err := l.root.MkdirAll(path.Dir(obj), 0o750); err != nil {
			return asFolderConflict(err)
		}
	}
	switch {
	case !upsert && errors.Is(err, fs.ErrExist):
		return fault.AsPermanent(fmt.Errorf("%w: the object already exists", fault.ErrConflict))
	case err != nil:
		return asFolderConflict(err)
	}
	if typed {
		return nil // a meta file left by an earlier write no longer applies
	}
	// The content type follows the bytes: a crash in between leaves the
	// previous (or default) type, never a half-written file.
	return l.writeMeta(bucket, key, ct)
}

func (l *Local) writeMeta(bucket, key, ct string) error {
	meta := metaPath(bucket, key)
	tmp, _, err := l.writeTemp([]byte(ct), "")
	if err != nil {
		return err
	}
	if err := l.root.MkdirAll(path.Dir(meta), 0o750); err != nil {
		_ = l.root.Remove(tmp)
		return asFolderConflict(err)
	}
	if err := l.root.Rename(tmp, meta); err != nil {
		_ = l.root.Remove(tmp)
		return err
	}
	return nil
}

// asFolderConflict reports a key that needs a folder where a file is (or the
// reverse), which a filesystem cannot hold.
func asFolderConflict(err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) {
		return fault.AsPermanent(fmt.Errorf("%w: a file and a folder would have the same name: %w", fault.ErrConflict, err))
	}
	return err
}

func tmpName() string {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	return "tmp/" + hex.EncodeToString(rnd[:])
}

// writeTemp writes data to a new temporary file and syncs it. Unless ct is
// empty it records ct on the file, and typed says whether it could.
func (l *Local) writeTemp(data []byte, ct string) (name string, typed bool, err error) {
	name = tmpName()
	// Read-only: a file, once placed, is only ever replaced, never written
	// again; and a plain copy may share its file with a blob (see Copy).
	f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o440)
	if err != nil {
		return "", false, err
	}
	if ct != "" {
		typed = setType(f, ct) == nil
	}
	_, err = f.Write(data)
	if err == nil && !l.NoSync {
		// Only the bytes need to be on disk before they are named: the
		// blob's before the commit that refers to it.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = l.root.Remove(name)
		return "", false, err
	}
	return name, typed, nil
}

// Delete implements Backend: exact keys; missing ones are skipped. Folders
// left empty are removed, as Supabase shows no empty folders.
func (l *Local) Delete(ctx context.Context, bucket string, keys ...string) (err error) {
	defer fault.Wrap(&err, "Delete(%s, %d keys)", bucket, len(keys))
	if err := validateKeys(bucket, keys...); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := l.delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) delete(bucket, key string) error {
	mu := l.lock(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	r := l.root
	fi, err := r.Lstat(objectPath(bucket, key))
	if err != nil || !fi.Mode().IsRegular() {
		return nil // missing (or a folder): skipped, like Supabase
	}
	if err := r.Remove(objectPath(bucket, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = r.Remove(metaPath(bucket, key))
	for _, top := range []string{"objects", "meta"} {
		for d := path.Dir(key); d != "."; d = path.Dir(d) {
			if r.Remove(path.Join(top, bucket, d)) != nil {
				break // not empty
			}
		}
	}
	return nil
}

// List implements Backend.
func (l *Local) List(ctx context.Context, bucket, prefix string) (_ []ObjectInfo, err error) {
	defer fault.Wrap(&err, "List(%s, %q)", bucket, prefix)
	if err := validateBucket(bucket); err != nil {
		return nil, err
	}
	prefix, err = validateFolder(prefix)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	folder := path.Join("objects", bucket, prefix)
	f, err := l.root.Open(folder)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return []ObjectInfo{}, nil
		}
		return nil, err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return []ObjectInfo{}, nil // a file, not a folder
		}
		return nil, err
	}
	// The folder as a root of its own: each entry is then one step away.
	dir, err := l.root.OpenRoot(folder)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	out := make([]ObjectInfo, 0, len(entries))
	for _, e := range entries {
		name := path.Join(prefix, e.Name())
		if e.IsDir() {
			out = append(out, ObjectInfo{Name: name, Folder: true})
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		if info, ok := l.info(bucket, dir, e.Name(), name); ok {
			out = append(out, info)
		}
	}
	sortInfos(out)
	return out, nil
}

// info describes the file base in dir, the object key name; false if it is
// gone.
func (l *Local) info(bucket string, dir *os.Root, base, name string) (ObjectInfo, bool) {
	mu := l.lock(bucket, name)
	mu.RLock()
	defer mu.RUnlock()
	// Non-blocking, should a FIFO have replaced the file since ReadDir.
	f, err := dir.OpenFile(base, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return ObjectInfo{}, false // deleted meanwhile
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return ObjectInfo{}, false
	}
	return ObjectInfo{Name: name, Size: fi.Size(), ContentType: l.contentType(f, metaPath(bucket, name)),
		UpdatedAt: fi.ModTime().UTC()}, true
}

// EnsureBucket implements Backend.
func (l *Local) EnsureBucket(ctx context.Context, bucket string) (err error) {
	defer fault.Wrap(&err, "EnsureBucket(%s)", bucket)
	if err := validateBucket(bucket); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.root.MkdirAll(path.Join("objects", bucket), 0o750)
}

// sortInfos orders a listing bytewise by name, whatever the server's
// collation.
func sortInfos(infos []ObjectInfo) {
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
}
