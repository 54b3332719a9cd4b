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
//	<dir>/objects/<bucket>/<key>   the bytes (browse these)
//	<dir>/meta/<bucket>/<key>      the content type
//	<dir>/tmp/                     writes in progress
//
// Differences from Supabase that callers must not rely on: a key cannot be
// both a file and a folder ("a" and "a/b"), which is a conflict here, and
// listing is case-sensitive.
type Local struct {
	dir string
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
	return &Local{dir: abs}, nil
}

// Dir is the root directory.
func (l *Local) Dir() string { return l.dir }

// keyLocks serializes writers of one key against each other and against
// readers, so the bytes and the content type (two files) are seen together.
// They are package-level because the filesystem is: two Locals on one
// directory must share them.
var (
	keyLocks    [256]sync.RWMutex
	keyLockSeed = maphash.MakeSeed()
)

func (l *Local) lock(bucket, key string) *sync.RWMutex {
	return &keyLocks[maphash.String(keyLockSeed, l.dir+"\x00"+bucket+"\x00"+key)%uint64(len(keyLocks))]
}

// open returns an os.Root confining every access to the directory, even
// through symbolic links.
func (l *Local) open(ctx context.Context) (*os.Root, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return os.OpenRoot(l.dir)
}

func objectPath(bucket, key string) string { return path.Join("objects", bucket, key) }
func metaPath(bucket, key string) string   { return path.Join("meta", bucket, key) }

func bucketMissing(bucket string) error {
	return fault.AsPermanent(fmt.Errorf("%w: bucket %s not found", fault.ErrNotFound, bucket))
}

func (l *Local) bucketExists(r *os.Root, bucket string) (bool, error) {
	fi, err := r.Stat(path.Join("objects", bucket))
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
	r, err := l.open(ctx)
	if err != nil {
		return Object{}, err
	}
	defer r.Close()
	mu := l.lock(bucket, key)
	mu.RLock()
	defer mu.RUnlock()

	f, err := r.Open(objectPath(bucket, key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Object{}, l.missing(r, bucket)
		}
		return Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if !fi.Mode().IsRegular() {
		return Object{}, l.missing(r, bucket)
	}
	if fi.Size() > MaxObjectBytes {
		return Object{}, tooLarge("the object", fi.Size(), MaxObjectBytes)
	}
	data := make([]byte, fi.Size())
	if _, err := readFull(f, data); err != nil {
		return Object{}, err
	}
	ct := defaultContentType
	if b, err := r.ReadFile(metaPath(bucket, key)); err == nil && len(b) > 0 {
		ct = string(b)
	}
	sum := md5.Sum(data)
	return Object{Data: data, ContentType: ct, Size: int64(len(data)),
		ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: fi.ModTime().UTC()}, nil
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

func (l *Local) missing(r *os.Root, bucket string) error {
	ok, err := l.bucketExists(r, bucket)
	if err != nil {
		return err
	}
	if !ok {
		return bucketMissing(bucket)
	}
	return fault.AsPermanent(fmt.Errorf("%w: object not found", fault.ErrNotFound))
}

// Put implements Backend. The bytes are written to a temporary file and
// renamed into place (or hard-linked, without Upsert, so that an existing
// object is never replaced even by another process).
func (l *Local) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) (err error) {
	defer fault.Wrap(&err, "Put(%s, %q)", bucket, key)
	if err := validatePut(bucket, key, data); err != nil {
		return err
	}
	r, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	if ok, err := l.bucketExists(r, bucket); err != nil {
		return err
	} else if !ok {
		return bucketMissing(bucket)
	}
	mu := l.lock(bucket, key)
	mu.Lock()
	defer mu.Unlock()

	obj, meta := objectPath(bucket, key), metaPath(bucket, key)
	tmp, err := writeTemp(r, data)
	if err != nil {
		return err
	}
	defer r.Remove(tmp) //nolint:errcheck // gone after a rename; best effort otherwise
	// A Delete of another key may remove a folder this key needs just after
	// it was made (it removes empty folders): make it again, once.
	for attempt := 0; ; attempt++ {
		for _, p := range []string{obj, meta} {
			if err := r.MkdirAll(path.Dir(p), 0o750); err != nil {
				return asFolderConflict(err)
			}
		}
		if opts.Upsert {
			err = r.Rename(tmp, obj)
		} else {
			err = r.Link(tmp, obj)
		}
		if err == nil || attempt > 0 || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	switch {
	case !opts.Upsert && errors.Is(err, fs.ErrExist):
		return fault.AsPermanent(fmt.Errorf("%w: the object already exists", fault.ErrConflict))
	case err != nil:
		return asFolderConflict(err)
	}
	// The content type follows the bytes: a crash in between leaves the
	// previous (or default) type, never a half-written file.
	tmpMeta, err := writeTemp(r, []byte(contentTypeOr(opts.ContentType)))
	if err != nil {
		return err
	}
	if err := r.Rename(tmpMeta, meta); err != nil {
		_ = r.Remove(tmpMeta)
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

func writeTemp(r *os.Root, data []byte) (string, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	name := "tmp/" + hex.EncodeToString(rnd[:])
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = r.Remove(name)
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		_ = r.Remove(name)
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = r.Remove(name)
		return "", err
	}
	return name, nil
}

// Delete implements Backend: exact keys; missing ones are skipped. Folders
// left empty are removed, as Supabase shows no empty folders.
func (l *Local) Delete(ctx context.Context, bucket string, keys ...string) (err error) {
	defer fault.Wrap(&err, "Delete(%s, %d keys)", bucket, len(keys))
	if err := validateKeys(bucket, keys...); err != nil {
		return err
	}
	r, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, k := range keys {
		if err := l.delete(r, bucket, k); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) delete(r *os.Root, bucket, key string) error {
	mu := l.lock(bucket, key)
	mu.Lock()
	defer mu.Unlock()
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
	r, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dir := path.Join("objects", bucket, prefix)
	f, err := r.Open(dir)
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
		fi, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		ct := defaultContentType
		if b, err := r.ReadFile(metaPath(bucket, name)); err == nil && len(b) > 0 {
			ct = string(b)
		}
		out = append(out, ObjectInfo{Name: name, Size: fi.Size(), ContentType: ct, UpdatedAt: fi.ModTime().UTC()})
	}
	sortInfos(out)
	return out, nil
}

// EnsureBucket implements Backend.
func (l *Local) EnsureBucket(ctx context.Context, bucket string) (err error) {
	defer fault.Wrap(&err, "EnsureBucket(%s)", bucket)
	if err := validateBucket(bucket); err != nil {
		return err
	}
	r, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, top := range []string{"objects", "meta"} {
		if err := r.MkdirAll(path.Join(top, bucket), 0o750); err != nil {
			return err
		}
	}
	return nil
}

// sortInfos orders a listing bytewise by name, whatever the server's
// collation.
func sortInfos(infos []ObjectInfo) {
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
}
