package bot_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// streamingTelegram is a Bot API stand-in that reads each sendDocument
// upload as a stream into a file (it never holds a document in memory, so
// the test measures the bot's memory, not the fake's) and answers
// everything else with a sent message.
type streamingTelegram struct {
	dir   string
	mu    sync.Mutex
	docs  []string // files holding the uploaded documents
	texts []string // texts and captions sent
}

func (s *streamingTelegram) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case method == "sendDocument" && ct == "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if p.FormName() != "document" {
				v, _ := io.ReadAll(io.LimitReader(p, 1<<16))
				if p.FormName() == "caption" {
					s.mu.Lock()
					s.texts = append(s.texts, string(v))
					s.mu.Unlock()
				}
				continue
			}
			f, err := os.CreateTemp(s.dir, "doc-*.zip")
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_, err = io.Copy(f, p)
			f.Close()
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			s.mu.Lock()
			s.docs = append(s.docs, f.Name())
			s.mu.Unlock()
		}
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		if t, ok := m["text"].(string); ok {
			s.mu.Lock()
			s.texts = append(s.texts, t)
			s.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"}}}`)
}

type exportFixture struct {
	t      *testing.T
	bot    *bot.Bot
	db     *db.DB
	files  *storage.Files
	tg     *streamingTelegram
	update atomic.Int64
}

func exportSetup(t *testing.T, cfg bot.Config) *exportFixture {
	t.Helper()
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &exportFixture{t: t, db: dbtest.New(t), files: storage.NewFiles(local, 2<<20), tg: &streamingTelegram{dir: t.TempDir()}}
	srv := httptest.NewServer(f.tg)
	t.Cleanup(srv.Close)
	f.bot = bot.New(cfg, bot.Deps{DB: f.db, Telegram: telegram.New(srv.URL, "1:T", srv.Client()), Files: f.files,
		Jobs: &jobs{}, ValidatePath: storage.ValidatePath, IsDirect: func(string) bool { return false },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.update.Store(900000000)
	return f
}

func (f *exportFixture) say(user int64, text string) {
	f.t.Helper()
	id := f.update.Add(1)
	data, _ := json.Marshal(map[string]any{"update_id": id, "message": map[string]any{
		"message_id": id % 1000, "date": 1764000000, "text": text,
		"from": map[string]any{"id": user, "first_name": "Ann"}, "chat": map[string]any{"id": user, "type": "private"}}})
	if err := f.bot.Handle(context.Background(), events.Message{ID: "m", Data: data}); err != nil {
		f.t.Fatalf("%s: %v", text, err)
	}
}

// fill puts n files of size random (incompressible) bytes into the user's
// selected project, straight through storage and the database.
func (f *exportFixture) fill(user int64, n, size int) {
	f.t.Helper()
	ctx := context.Background()
	u, err := db.UserByTelegramID(ctx, f.db.Pool, user)
	if err != nil || u.CurrentProjectID == nil {
		f.t.Fatalf("user %d: %+v, %v", user, u, err)
	}
	buf := make([]byte, size)
	for i := range n {
		_, _ = rand.Read(buf)
		key, sum, err := f.files.PutBlob(ctx, *u.CurrentProjectID, buf, "text/plain; charset=utf-8")
		if err != nil {
			f.t.Fatal(err)
		}
		err = f.db.InTx(ctx, func(tx pgx.Tx) error {
			_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: *u.CurrentProjectID, Path: fmt.Sprintf("src/f%02d.txt", i),
				SHA256: sum, Size: int64(size), BlobKey: key, Source: db.SourceUpload})
			return err
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// peakHeap runs fn and returns how far the live heap rose above where it
// was before, sampled every millisecond, with the collector made eager so
// that garbage does not count as memory in use.
func peakHeap(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak {
				peak = m.HeapAlloc
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// /export streams the zip into the upload, reading one file at a time: the
// memory it takes is about one file's, not the project's (24 files of
// 1 MiB made a 24 MiB zip in memory before).
func TestExportMemoryIsBoundedByOneFile(t *testing.T) {
	// Not parallel: it measures the process's heap.
	const ann, files, size = 61, 24, 1 << 20
	f := exportSetup(t, bot.Config{MaxFileBytes: 2 << 20})
	f.say(ann, "/new big")
	f.fill(ann, files, size)
	rise := peakHeap(func() { f.say(ann, "/export") })
	t.Logf("heap rose by %.1f MiB during the export of %d files of %d KiB", float64(rise)/(1<<20), files, size>>10)
	if len(f.tg.docs) != 1 {
		t.Fatalf("%d documents uploaded, want 1 (texts %q)", len(f.tg.docs), f.tg.texts)
	}
	zr, err := zip.OpenReader(f.tg.docs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != files || zr.File[0].Name != "src/f00.txt" || zr.File[0].UncompressedSize64 != size {
		t.Fatalf("zip has %d entries, first %+v", len(zr.File), zr.File[0].FileHeader)
	}
	if rise > 6<<20 {
		t.Errorf("the export took %.1f MiB of heap; one file is %.1f MiB", float64(rise)/(1<<20), float64(size)/(1<<20))
	}
}

// A project at its limits refuses an upload that would take it over, before
// the file is downloaded, and /export refuses a project over them (limits
// lowered since) instead of building a zip Telegram would refuse.
func TestProjectLimitsRefuseUploadAndExport(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.MaxProjectFiles = 2; c.MaxProjectBytes = 1500 })
	const u = 62
	f.say(u, "/new lim")
	f.do(u, f.document(u, "a.txt", "", bytes.Repeat([]byte("a"), 900)))
	f.do(u, f.document(u, "b.txt", "", []byte("b\n")))
	before := len(f.tg.Calls("getFile"))
	expect(t, f.do(u, f.document(u, "c.txt", "", []byte("c\n"))),
		"lim holds 2 files, the most a project may have, so I did not add c.txt.")
	expect(t, f.do(u, f.document(u, "b.txt", "", bytes.Repeat([]byte("b"), 700))),
		"Saving b.txt would take lim to 1.6 KB, over the 1.5 KB a project may hold (its 2 files hold 902 B now), so I did not save it.")
	if n := len(f.tg.Calls("getFile")); n != before {
		t.Errorf("%d downloads of refused files", n-before)
	}
	fs, _ := db.ListFiles(context.Background(), f.db.Pool, mustProject(t, f, "lim").ID)
	if len(fs) != 2 || fs[1].Size != 2 {
		t.Errorf("files after the refusals: %+v", fs)
	}
	// A new version within the bytes is fine.
	expect(t, f.do(u, f.document(u, "b.txt", "", []byte("bb\n"))), "Updated b.txt")
}

func TestExportRefusedOverTheLimit(t *testing.T) {
	t.Parallel()
	const u = 63
	f := exportSetup(t, bot.Config{MaxFileBytes: 2 << 20, MaxProjectFiles: 2})
	f.say(u, "/new many")
	f.fill(u, 3, 10) // written past the bot: the limit was lowered since
	f.say(u, "/export")
	if len(f.tg.docs) != 0 {
		t.Fatalf("exported a project over its limits")
	}
	if got := strings.Join(f.tg.texts, "\n"); !strings.Contains(got, "many has 3 files, more than the 2 an export may hold") {
		t.Errorf("replies %q", got)
	}
}
