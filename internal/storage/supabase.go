package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	storage_go "github.com/supabase-community/storage-go"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Supabase is a Backend on Supabase Storage's REST API, through storage-go
// (see the package comment for what it avoids in that client). It is safe for
// concurrent use: it holds no mutable state and builds a storage-go client
// per operation.
type Supabase struct {
	base    string // ".../storage/v1", no trailing slash
	key     string
	timeout time.Duration
}

// listPage is how many entries one list request asks for.
const listPage = 1000

// deleteBatch is how many keys one delete request carries.
const deleteBatch = 1000

// NewSupabase returns an adapter for the project at baseURL: either the
// project URL ("https://<ref>.supabase.co", to which /storage/v1 is
// appended) or, when the URL has a path, the storage API's base as it is
// ("https://<ref>.supabase.co/storage/v1", "http://127.0.0.1:54321/storage/v1",
// or a self-hosted server's own root such as "http://storage:5000/api").
// serviceKey is sent as both the bearer token and the apikey header, and
// never appears in an error. hc may be nil; only its Timeout is used, as a
// deadline on each operation (storage-go cannot take a client: see the
// package comment).
func NewSupabase(baseURL, serviceKey string, hc *http.Client) (*Supabase, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.AsPermanent(fmt.Errorf("%w: storage: the Supabase URL must be http(s)://host[/storage/v1], not %q",
			fault.ErrInvalid, redact(baseURL, serviceKey)))
	}
	if serviceKey == "" {
		return nil, fault.AsPermanent(fmt.Errorf("%w: storage: the Supabase service key is empty", fault.ErrInvalid))
	}
	if u.Path = strings.TrimSuffix(u.Path, "/"); u.Path == "" {
		u.Path = "/storage/v1"
	}
	return newSupabase(u, serviceKey, hc), nil
}

// NewSupabaseStorage returns an adapter for the storage API whose base is
// storageURL, used as it is (but for a trailing slash): a bare Storage
// server's root ("http://storage:5000"), which NewSupabase cannot address
// since it appends /storage/v1 to a URL without a path.
func NewSupabaseStorage(storageURL, serviceKey string, hc *http.Client) (*Supabase, error) {
	u, err := url.Parse(strings.TrimSpace(storageURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.AsPermanent(fmt.Errorf("%w: storage: the storage URL must be http(s)://host[/path], not %q",
			fault.ErrInvalid, redact(storageURL, serviceKey)))
	}
	if serviceKey == "" {
		return nil, fault.AsPermanent(fmt.Errorf("%w: storage: the Supabase service key is empty", fault.ErrInvalid))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return newSupabase(u, serviceKey, hc), nil
}

func newSupabase(u *url.URL, serviceKey string, hc *http.Client) *Supabase {
	u.RawQuery, u.Fragment, u.User, u.RawPath = "", "", nil, ""
	s := &Supabase{base: strings.TrimSuffix(u.String(), "/"), key: serviceKey}
	if hc != nil {
		s.timeout = hc.Timeout
	}
	return s
}

// BaseURL is the storage API's base URL.
func (s *Supabase) BaseURL() string { return s.base }

// client returns a fresh storage-go client whose every request carries the
// key in both auth headers plus headers (an operation's fixed options).
func (s *Supabase) client(headers map[string]string) *storage_go.Client {
	h := map[string]string{"apikey": s.key}
	for k, v := range headers {
		h[k] = v
	}
	return storage_go.NewClient(s.base, s.key, h)
}

// objectURL escapes every segment: storage-go would paste the key raw, and
// '?' or a space would then cut or break it.
func (s *Supabase) objectURL(route, bucket, key string) string {
	var b strings.Builder
	b.WriteString(s.base)
	b.WriteString(route)
	b.WriteString(url.PathEscape(bucket))
	if key != "" {
		for seg := range strings.SplitSeq(key, "/") {
			b.WriteByte('/')
			b.WriteString(url.PathEscape(seg))
		}
	}
	return b.String()
}

// do sends req through a storage-go client carrying headers and returns the
// successful response, whose body the caller closes. Failures are
// classified (see classify).
func (s *Supabase) do(req *http.Request, headers map[string]string) (*http.Response, error) {
	ctx := req.Context()
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		req = req.WithContext(ctx)
		resp, err := s.send(req, headers)
		if err != nil {
			cancel()
			return nil, err
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	return s.send(req, headers)
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (s *Supabase) send(req *http.Request, headers map[string]string) (*http.Response, error) {
	resp, err := s.client(headers).Do(req, nil)
	var se *storage_go.StorageError
	switch {
	case err == nil:
		return resp, nil
	case errors.As(err, &se) && resp != nil:
		resp.Body.Close()
		return nil, classify(req.Method, resp.StatusCode, resp.Header, redact(se.Message, s.key))
	default:
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, s.networkError(req.Context(), err)
	}
}

// networkError classifies a failure to get any answer. Deadlines and
// cancellation keep their context error in the chain.
func (s *Supabase) networkError(ctx context.Context, err error) error {
	msg := redact(err.Error(), s.key)
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fault.AsRetryable(fmt.Errorf("%w: the storage request timed out: %w", fault.ErrUnavailable, cerr))
		}
		return fmt.Errorf("the storage request was cancelled: %w", cerr)
	}
	return fault.AsRetryable(fmt.Errorf("%w: cannot reach storage: %s", fault.ErrUnavailable, msg))
}

func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

// Get implements Backend, on the authenticated download route.
func (s *Supabase) Get(ctx context.Context, bucket, key string) (_ Object, err error) {
	defer fault.Wrap(&err, "Get(%s, %q)", bucket, key)
	if err := validateKeys(bucket, key); err != nil {
		return Object{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.objectURL("/object/authenticated/", bucket, key), nil)
	if err != nil {
		return Object{}, fault.AsPermanent(err)
	}
	resp, err := s.do(req, nil)
	if err != nil {
		return Object{}, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxObjectBytes {
		return Object{}, tooLarge("the object", resp.ContentLength, MaxObjectBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxObjectBytes+1))
	if err != nil {
		return Object{}, s.networkError(ctx, err)
	}
	if len(data) > MaxObjectBytes {
		return Object{}, tooLarge("the object", int64(len(data)), MaxObjectBytes)
	}
	obj := Object{Data: data, ContentType: resp.Header.Get("Content-Type"), Size: int64(len(data)), ETag: resp.Header.Get("ETag")}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		obj.LastModified = t.UTC()
	}
	return obj, nil
}

// Put implements Backend. The content type and x-upsert are explicit on
// every upload, and the body has a Content-Length, so the server's own size
// limit applies too.
func (s *Supabase) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) (err error) {
	defer fault.Wrap(&err, "Put(%s, %q)", bucket, key)
	if err := validatePut(bucket, key, data); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.objectURL("/object/", bucket, key), bytes.NewReader(data))
	if err != nil {
		return fault.AsPermanent(err)
	}
	upsert := "false"
	if opts.Upsert {
		upsert = "true"
	}
	resp, err := s.do(req, map[string]string{"Content-Type": contentTypeOr(opts.ContentType), "x-upsert": upsert})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.Body.Close()
}

// Delete implements Backend.
func (s *Supabase) Delete(ctx context.Context, bucket string, keys ...string) (err error) {
	defer fault.Wrap(&err, "Delete(%s, %d keys)", bucket, len(keys))
	if err := validateKeys(bucket, keys...); err != nil {
		return err
	}
	for batch := range chunks(keys, deleteBatch) {
		var removed []storage_go.FileUploadResponse
		if err := s.doJSON(ctx, http.MethodDelete, s.objectURL("/object/", bucket, ""),
			map[string]any{"prefixes": batch}, &removed); err != nil {
			return err
		}
	}
	return nil
}

func chunks(keys []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(keys) > 0 {
			m := min(n, len(keys))
			if !yield(keys[:m]) {
				return
			}
			keys = keys[m:]
		}
	}
}

// listEntry is one entry of POST /object/list: folders have a null id.
type listEntry struct {
	Name      string  `json:"name"`
	ID        *string `json:"id"`
	UpdatedAt string  `json:"updated_at"`
	Metadata  *struct {
		Size     int64  `json:"size"`
		Mimetype string `json:"mimetype"`
	} `json:"metadata"`
}

// List implements Backend.
func (s *Supabase) List(ctx context.Context, bucket, prefix string) (_ []ObjectInfo, err error) {
	defer fault.Wrap(&err, "List(%s, %q)", bucket, prefix)
	if err := validateBucket(bucket); err != nil {
		return nil, err
	}
	prefix, err = validateFolder(prefix)
	if err != nil {
		return nil, err
	}
	out := []ObjectInfo{}
	for offset := 0; ; offset += listPage {
		body := storage_go.ListFileRequestBody{Prefix: prefix, Limit: listPage, Offset: offset,
			SortByOptions: storage_go.SortBy{Column: "name", Order: "asc"}}
		var page []listEntry
		if err := s.doJSON(ctx, http.MethodPost, s.objectURL("/object/list/", bucket, ""), body, &page); err != nil {
			return nil, err
		}
		for _, e := range page {
			info := ObjectInfo{Name: joinKey(prefix, e.Name), Folder: e.ID == nil}
			if !info.Folder {
				if e.Metadata != nil {
					info.Size, info.ContentType = e.Metadata.Size, e.Metadata.Mimetype
				}
				if t, err := time.Parse(time.RFC3339Nano, e.UpdatedAt); err == nil {
					info.UpdatedAt = t.UTC()
				}
			}
			out = append(out, info)
		}
		if len(page) < listPage {
			sortInfos(out)
			return out, nil
		}
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// EnsureBucket implements Backend: it creates a private bucket and takes
// "already exists" as success.
func (s *Supabase) EnsureBucket(ctx context.Context, bucket string) (err error) {
	defer fault.Wrap(&err, "EnsureBucket(%s)", bucket)
	if err := validateBucket(bucket); err != nil {
		return err
	}
	var created struct {
		Name string `json:"name"`
	}
	err = s.doJSON(ctx, http.MethodPost, s.base+"/bucket",
		map[string]any{"id": bucket, "name": bucket, "public": false}, &created)
	if errors.Is(err, fault.ErrConflict) {
		return nil
	}
	return err
}

// doJSON sends a JSON body and decodes a JSON answer into out.
func (s *Supabase) doJSON(ctx context.Context, method, u string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fault.AsPermanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fault.AsPermanent(err)
	}
	resp, err := s.do(req, map[string]string{"Content-Type": "application/json"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxObjectBytes)).Decode(out); err != nil {
		if ctx.Err() != nil {
			return s.networkError(ctx, err)
		}
		return fault.AsRetryable(fmt.Errorf("%w: storage answered %s %s with an unreadable body: %v",
			fault.ErrUnavailable, method, req.URL.Path, err))
	}
	return nil
}
