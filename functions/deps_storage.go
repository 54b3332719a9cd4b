package functions

import (
	"fmt"
	"net/http"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
)

// storageOpTimeout bounds one storage request, inside the handler's own
// deadline.
const storageOpTimeout = 30 * time.Second

// Storage returns project file storage on the configured backend
// (STORAGE_BACKEND: supabase at SUPABASE_STORAGE_URL or else SUPABASE_URL,
// or local under STORAGE_DIR), refusing files over MAX_FILE_BYTES. It is
// made once and shared by the process's handlers: the Supabase adapter
// pools connections in http.DefaultTransport, the local one holds its
// directory open (released by Close).
func (d *Deps) Storage() (*storage.Files, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files != nil {
		return d.files, nil
	}
	var (
		b   storage.Backend
		err error
	)
	switch c := d.Config; c.StorageBackend {
	case "local":
		var l *storage.Local
		if l, err = storage.NewLocal(c.StorageDir); err == nil {
			l.NoSync = c.StorageNoSync
			b = l
			d.closers = append(d.closers, func() { l.Close() })
		}
	case "supabase":
		hc := &http.Client{Timeout: storageOpTimeout}
		if c.SupabaseStorageURL != "" { // a bare Storage server: as is
			b, err = storage.NewSupabaseStorage(c.SupabaseStorageURL, c.SupabaseKey, hc)
		} else {
			b, err = storage.NewSupabase(c.SupabaseURL, c.SupabaseKey, hc)
		}
	default:
		err = fault.AsPermanent(fmt.Errorf("%w: STORAGE_BACKEND %q is neither supabase nor local", fault.ErrInvalid, c.StorageBackend))
	}
	if err != nil {
		return nil, fmt.Errorf("functions: Storage: %w", err)
	}
	d.files = storage.NewFiles(b, d.Config.MaxFileBytes)
	return d.files, nil
}
