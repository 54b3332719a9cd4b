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
// or local under STORAGE_DIR), refusing files
// over MAX_FILE_BYTES. Each handler builds one at start: the Supabase
// adapter pools connections in http.DefaultTransport, the local one holds
// its directory open for the process's life.
func (d *Deps) Storage() (*storage.Files, error) {
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
	return storage.NewFiles(b, d.Config.MaxFileBytes), nil
}
