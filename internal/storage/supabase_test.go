package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	storage_go "github.com/supabase-community/storage-go"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

type supabaseBundle struct {
	srv *storagetest.Server
	sb  *storage.Supabase
}

func setupSupabase(t testing.TB) supabaseBundle {
	t.Helper()
	srv := storagetest.NewServer(t)
	sb, err := storage.NewSupabase(srv.BaseURL, storagetest.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return supabaseBundle{srv: srv, sb: sb}
}

func TestSupabaseContract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, setupSupabase(t).sb)
}

// With SUPABASE_TEST_URL and SUPABASE_TEST_KEY, the same contract runs
// against a real server (its buckets are left empty, not deleted).
func TestSupabaseContractRealServer(t *testing.T) {
	u, key := os.Getenv("SUPABASE_TEST_URL"), os.Getenv("SUPABASE_TEST_KEY")
	if u == "" || key == "" {
		t.Skip("SUPABASE_TEST_URL and SUPABASE_TEST_KEY are not set")
	}
	t.Parallel()
	sb, err := storage.NewSupabase(u, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, sb)
}

// The three ways to reach Storage: the hosted project URL (or a
// self-hosted gateway), to which /storage/v1 is appended; and a bare
// Storage server's root, given as the storage URL and used as is.
func TestSupabaseAddressing(t *testing.T) {
	t.Parallel()
	gateway := storagetest.NewServer(t)
	bare := storagetest.NewBareServer(t)
	hosted, err := storage.NewSupabase(gateway.URL, storagetest.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hosted.BaseURL() != gateway.URL+"/storage/v1" {
		t.Errorf("project URL %s gives base %s", gateway.URL, hosted.BaseURL())
	}
	storagetest.Run(t, hosted)
	root, err := storage.NewSupabaseStorage(bare.URL+"/", storagetest.SecretKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if root.BaseURL() != bare.URL {
		t.Errorf("storage URL %s/ gives base %s, want it as is", bare.URL, root.BaseURL())
	}
	storagetest.Run(t, root)
	// A bare server's root given as the project URL: /storage/v1 is an
	// unknown route there, retryable and saying which setting to check.
	wrong, err := storage.NewSupabase(bare.URL, storagetest.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.List(context.Background(), "b", ""); !errors.Is(err, fault.ErrUnavailable) || !strings.Contains(err.Error(), "SUPABASE_STORAGE_URL") {
		t.Errorf("bare root as the project URL: %v", err)
	}
	for _, bad := range []string{"", "storage:5000", "ftp://x"} {
		if _, err := storage.NewSupabaseStorage(bad, "k", nil); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("NewSupabaseStorage(%q): %v, want invalid", bad, err)
		}
	}
}

// What an anon key meets on the real server, and why config refuses it:
// nothing fails, nothing works.
func TestFakeAnonKeySeesNothing(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, b.sb)
	if err := b.sb.Put(ctx, bucket, "a.txt", []byte("x"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	anon, err := storage.NewSupabase(b.srv.BaseURL, storagetest.AnonKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if infos, err := anon.List(ctx, bucket, ""); err != nil || len(infos) != 0 {
		t.Errorf("anon List = %v, %v; want silently empty", infos, err)
	}
	if err := anon.Delete(ctx, bucket, "a.txt"); err != nil {
		t.Errorf("anon Delete = %v; want silent success", err)
	}
	if _, err := anon.Get(ctx, bucket, "a.txt"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("anon Get = %v; want not found", err)
	}
	if _, ok := b.srv.Object(bucket, "a.txt"); !ok {
		t.Error("the anon key deleted an object")
	}
}

func TestNewSupabaseURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"https://abcd.supabase.co", "https://abcd.supabase.co/storage/v1"},
		{"https://abcd.supabase.co/", "https://abcd.supabase.co/storage/v1"},
		{"https://abcd.supabase.co/storage/v1", "https://abcd.supabase.co/storage/v1"},
		{"https://abcd.supabase.co/storage/v1/", "https://abcd.supabase.co/storage/v1"},
		{"http://127.0.0.1:5000/api", "http://127.0.0.1:5000/api"},
	}
	for _, c := range cases {
		sb, err := storage.NewSupabase(c.in, "k", nil)
		if err != nil || sb.BaseURL() != c.want {
			t.Errorf("NewSupabase(%q).BaseURL() = %v, %v; want %q", c.in, sb, err, c.want)
		}
	}
	for _, bad := range []string{"", "abcd.supabase.co", "ftp://x", "http://"} {
		if _, err := storage.NewSupabase(bad, "k", nil); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("NewSupabase(%q): %v, want invalid", bad, err)
		}
	}
	if _, err := storage.NewSupabase("https://x.supabase.co", "", nil); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("NewSupabase with no key: %v, want invalid", err)
	}
}

// Every request carries both auth headers; every upload an explicit
// content type and x-upsert; downloads use the authenticated route.
func TestSupabaseWireFormat(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, b.sb)
	if err := b.sb.Put(ctx, bucket, "a.txt", []byte("a"), storage.PutOptions{ContentType: "text/plain", Upsert: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.sb.Put(ctx, bucket, "b.bin", []byte("b"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.sb.Get(ctx, bucket, "a.txt"); err != nil {
		t.Fatal(err)
	}
	var uploads, downloads int
	for _, r := range b.srv.Requests() {
		if r.Header.Get("Authorization") != "Bearer "+storagetest.Key || r.Header.Get("apikey") != storagetest.Key {
			t.Errorf("%s %s: Authorization %q, apikey %q", r.Method, r.Path, r.Header.Get("Authorization"), r.Header.Get("apikey"))
		}
		if len(r.Header.Values("Content-Type")) > 1 {
			t.Errorf("%s %s: several Content-Type headers %q", r.Method, r.Path, r.Header.Values("Content-Type"))
		}
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/a.txt"):
			uploads++
			if r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("x-upsert") != "true" {
				t.Errorf("upload a.txt: Content-Type %q, x-upsert %q", r.Header.Get("Content-Type"), r.Header.Get("x-upsert"))
			}
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/b.bin"):
			uploads++
			if r.Header.Get("Content-Type") != "application/octet-stream" || r.Header.Get("x-upsert") != "false" {
				t.Errorf("upload b.bin: Content-Type %q, x-upsert %q", r.Header.Get("Content-Type"), r.Header.Get("x-upsert"))
			}
		case r.Method == http.MethodGet:
			downloads++
			if !strings.HasPrefix(r.Path, "/storage/v1/object/authenticated/") {
				t.Errorf("download on %s, want the authenticated route", r.Path)
			}
		}
	}
	if uploads != 2 || downloads != 1 {
		t.Errorf("saw %d uploads and %d downloads, want 2 and 1", uploads, downloads)
	}
}

// The fake accepts what storage-go itself sends: a chunked upload.
func TestFakeAcceptsStorageGoChunkedUpload(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	b.srv.CreateBucket("chunky", 0)
	c := storage_go.NewClient(b.srv.BaseURL, storagetest.Key, map[string]string{"apikey": storagetest.Key})
	ct := "text/plain"
	if _, err := c.UploadFile("chunky", "dir/c.txt", strings.NewReader("chunked body"), storage_go.FileOptions{ContentType: &ct}); err != nil {
		t.Fatal(err)
	}
	got, ok := b.srv.Object("chunky", "dir/c.txt")
	if !ok || string(got.Data) != "chunked body" || got.ContentType != "text/plain" {
		t.Fatalf("stored %+v, %v", got, ok)
	}
	reqs := b.srv.Requests()
	if !reqs[len(reqs)-1].Chunked {
		t.Error("storage-go's upload was not chunked; the fake no longer tests that path")
	}
	// And its plain download route takes a bad key for an anonymous caller.
	anon := storage_go.NewClient(b.srv.BaseURL, storagetest.ExpiredKey, map[string]string{"apikey": storagetest.ExpiredKey})
	_, err := anon.DownloadFile("chunky", "dir/c.txt")
	if err == nil || err.Error() != storagetest.MsgBucketNotFound {
		t.Errorf("anonymous download with an expired key: %v, want %q", err, storagetest.MsgBucketNotFound)
	}
}

// Each row of the facts file's error table, and the failures around the
// server, maps to its class.
func TestSupabaseErrorTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		reply     storagetest.Reply
		want      error
		permanent bool
	}{
		{"object missing", storagetest.ErrorReply("404", "not_found", "NoSuchKey", "Object not found"), fault.ErrNotFound, true},
		{"bucket missing", storagetest.ErrorReply("404", "Bucket not found", "NoSuchBucket", "Bucket not found"), fault.ErrNotFound, true},
		{"object exists", storagetest.ErrorReply("409", "Duplicate", "KeyAlreadyExists", "The resource already exists"), fault.ErrConflict, true},
		{"bucket exists", storagetest.ErrorReply("409", "Duplicate", "BucketAlreadyExists", "The resource already exists"), fault.ErrConflict, true},
		{"expired JWT", storagetest.ErrorReply("403", "Unauthorized", "AccessDenied", `"exp" claim timestamp check failed`), fault.ErrUnauthorized, true},
		{"forged JWT", storagetest.ErrorReply("403", "Unauthorized", "AccessDenied", "signature verification failed"), fault.ErrUnauthorized, true},
		{"garbage JWT", storagetest.ErrorReply("403", "Unauthorized", "AccessDenied", "Invalid Compact JWS"), fault.ErrUnauthorized, true},
		{"too large", storagetest.ErrorReply("413", "Payload too large", "EntityTooLarge", "The object exceeded the maximum allowed size"), fault.ErrTooLarge, true},
		{"MIME type", storagetest.ErrorReply("415", "invalid_mime_type", "InvalidMimeType", "mime type text/x-go is not supported"), fault.ErrInvalid, true},
		{"invalid key", storagetest.ErrorReply("400", "Invalid Input", "InvalidKey", "Invalid key: not found?.txt"), fault.ErrInvalid, true},
		{"bucket not empty", storagetest.ErrorReply("409", "InvalidRequest", "ResourceNotEmpty", "The bucket you tried to delete is not empty"), fault.ErrConflict, true},
		{"database down", storagetest.InternalError, fault.ErrUnavailable, false},
		{"too many connections", storagetest.SlowDown, fault.ErrRateLimited, false},
		{"database timeout", storagetest.DatabaseTimeout, fault.ErrUnavailable, false},
		{"HTML 502", storagetest.BadGatewayHTML, fault.ErrUnavailable, false},
		{"unknown route", storagetest.Reply{Status: 404, Body: `{"message":"Route GET:/x not found","error":"Not Found","statusCode":404}`}, fault.ErrUnavailable, false},
		{"gateway without apikey", storagetest.Reply{Status: 401, Body: `{"message":"No API key found in request"}`}, fault.ErrUnauthorized, true},
		{"gateway 413", storagetest.Reply{Status: 413, Body: `<html>too big</html>`}, fault.ErrTooLarge, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setupSupabase(t)
			b.srv.CreateBucket("b", 0)
			b.srv.FailNext(c.reply)
			_, err := b.sb.Get(context.Background(), "b", "k.txt")
			if !errors.Is(err, c.want) || fault.IsPermanent(err) != c.permanent {
				t.Fatalf("error %v (permanent %v): want %v, permanent %v", err, fault.IsPermanent(err), c.want, c.permanent)
			}
			if msg := err.Error(); msg == "" || strings.HasSuffix(msg, ": ") || strings.Contains(msg, storagetest.Key) {
				t.Fatalf("error message %q: empty or leaks the key", msg)
			}
			var se *storage.ServerError
			if !errors.As(err, &se) || se.Message == "" || se.HTTPStatus != c.reply.Status {
				t.Fatalf("ServerError %+v", se)
			}
		})
	}
}

func TestSupabaseRetryAfter(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	b.srv.FailNext(storagetest.SlowDown)
	err := b.sb.Put(context.Background(), "b", "k.txt", []byte("x"), storage.PutOptions{})
	if got := fault.RetryAfterOf(err); got != 2*time.Second {
		t.Fatalf("RetryAfterOf(%v) = %v, want 2s", err, got)
	}
}

// An expired key is "unauthorized", never "not found", on every operation;
// a missing object with a good key is "not found".
func TestSupabaseExpiredKeyIsUnauthorized(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			t.Parallel()
			expiredKeyIsUnauthorized(t, legacy)
		})
	}
}

// expiredKeyIsUnauthorized: with legacy, the server words JWT failures as
// v1.11.2 did ("invalid signature", "jwt expired", "jwt malformed").
func expiredKeyIsUnauthorized(t *testing.T, legacy bool) {
	b := setupSupabase(t)
	b.srv.SetLegacy(legacy)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, b.sb)
	if _, err := b.sb.Get(ctx, bucket, "missing.txt"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("missing object with a good key: %v, want not found", err)
	}
	for _, key := range []string{storagetest.ExpiredKey, storagetest.ForgedKey, "not-a-jwt"} {
		expired, err := storage.NewSupabase(b.srv.BaseURL, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, getErr := expired.Get(ctx, bucket, "missing.txt")
		_, listErr := expired.List(ctx, bucket, "")
		for name, err := range map[string]error{
			"Get":          getErr,
			"Put":          expired.Put(ctx, bucket, "a.txt", []byte("x"), storage.PutOptions{}),
			"Delete":       expired.Delete(ctx, bucket, "a.txt"),
			"List":         listErr,
			"EnsureBucket": expired.EnsureBucket(ctx, bucket),
		} {
			if !errors.Is(err, fault.ErrUnauthorized) || errors.Is(err, fault.ErrNotFound) || !fault.IsPermanent(err) {
				t.Errorf("%s with key %.12s…: %v, want permanent unauthorized", name, key, err)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("%s: the key leaked into %q", name, err)
			}
		}
	}
}

// Invalid keys and buckets are refused before any request is sent.
func TestSupabaseInvalidKeysNotSent(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	ctx := context.Background()
	for _, k := range []string{"../x", "a//b", "x#y", "q%41", "/abs", "a/./b", "é", strings.Repeat("a", 1025)} {
		_, getErr := b.sb.Get(ctx, "b", k)
		_, listErr := b.sb.List(ctx, "b", k)
		for _, err := range []error{getErr, listErr,
			b.sb.Put(ctx, "b", k, []byte("x"), storage.PutOptions{}), b.sb.Delete(ctx, "b", "ok.txt", k)} {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("key %.20q: %v, want invalid", k, err)
			}
		}
	}
	if err := b.sb.EnsureBucket(ctx, "a/b"); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("bucket a/b: %v, want invalid", err)
	}
	if n := len(b.srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid keys", n)
	}
}

func TestSupabaseDeadline(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	b.srv.CreateBucket("b", 0)
	b.srv.SetDelay(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.sb.Get(ctx, "b", "k.txt")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, fault.ErrUnavailable) || !fault.IsRetryable(err) {
		t.Fatalf("Get past its deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Get took %v: the deadline was not honoured", d)
	}
	// The client's Timeout bounds each operation too.
	sb, err := storage.NewSupabase(b.srv.BaseURL, storagetest.Key, &http.Client{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Put(context.Background(), "b", "k.txt", []byte("x"), storage.PutOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put past the client's timeout: %v", err)
	}
}

// A large object is read whole, through the timeout's body wrapper.
func TestSupabaseLargeObject(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	sb, err := storage.NewSupabase(b.srv.BaseURL, storagetest.Key, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bucket := storagetest.NewBucket(t, sb)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := sb.Put(context.Background(), bucket, "big.bin", data, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := sb.Get(context.Background(), bucket, "big.bin")
	if err != nil || !bytes.Equal(o.Data, data) {
		t.Fatalf("Get: %d bytes, %v", len(o.Data), err)
	}
}

// The server's own limit (by Content-Length) is reached, since uploads are
// not chunked.
func TestSupabaseServerLimit(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	b.srv.CreateBucket("small", 10)
	err := b.sb.Put(context.Background(), "small", "k.txt", make([]byte, 11), storage.PutOptions{})
	if !errors.Is(err, fault.ErrTooLarge) {
		t.Fatalf("Put over the bucket's limit: %v, want too large", err)
	}
}

// A listing longer than one page is read whole.
func TestSupabaseListPages(t *testing.T) {
	t.Parallel()
	b := setupSupabase(t)
	const n = 2345
	for i := range n {
		b.srv.PutObject("big", fmt.Sprintf("dir/f%04d.txt", i), []byte("x"), "text/plain")
	}
	got, err := b.sb.List(context.Background(), "big", "dir")
	if err != nil || len(got) != n || got[0].Name != "dir/f0000.txt" || got[n-1].Name != fmt.Sprintf("dir/f%04d.txt", n-1) {
		t.Fatalf("List = %d entries, %v", len(got), err)
	}
	lists := 0
	for _, r := range b.srv.Requests() {
		if strings.HasPrefix(r.Path, "/storage/v1/object/list/") {
			lists++
		}
	}
	if lists != 3 {
		t.Errorf("%d list requests for %d entries, want 3 pages", lists, n)
	}
}

// A server that cannot be reached is retryable; a server echoing the key
// does not get it into the error.
func TestSupabaseNetworkAndRedaction(t *testing.T) {
	t.Parallel()
	gone := storagetest.NewServer(t)
	gone.Close()
	sb, err := storage.NewSupabase(gone.BaseURL, storagetest.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sb.Get(context.Background(), "b", "k.txt")
	if !errors.Is(err, fault.ErrUnavailable) || !fault.IsRetryable(err) || fault.IsPermanent(err) {
		t.Fatalf("unreachable server: %v, want retryable unavailable", err)
	}
	b := setupSupabase(t)
	b.srv.FailNext(storagetest.ErrorReply("403", "Unauthorized", "AccessDenied", "bad token "+storagetest.Key))
	_, err = b.sb.Get(context.Background(), "b", "k.txt")
	if !errors.Is(err, fault.ErrUnauthorized) || strings.Contains(err.Error(), storagetest.Key) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("echoed key: %v", err)
	}
}
