// Package storagetest is a fake Supabase Storage server and a contract test
// suite that every storage.Backend must pass.
//
// The fake speaks the REST contract of facts/supabase-storage.md exactly, so
// that the real client library (storage-go) is exercised: it serves under
// /storage/v1, answers errors as HTTP 400 with the four-field body
// ({"statusCode":"404","error":...,"message":...,"code":...}) and the exact
// messages, never a numeric "status", accepts chunked uploads, stores the
// Content-Type, honours x-upsert: true on POST and upserts on PUT, lists
// with folder semantics and deletes exact names. Like the real server, the
// anonymous download route reports a bad key as "Bucket not found", while
// the authenticated route reports the JWT error; the anon key sees nothing
// (row-level security); NewBareServer serves at the root without a gateway;
// SetLegacy words JWT errors as v1.11.2 did. Tests can queue failures
// (HTTP 500, 429, an HTML 502, a 544 timeout) and inspect what was stored and
// what was sent.
package storagetest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keys the fake recognizes as the bearer token (and apikey).
const (
	// Key is the service key the fake accepts: a JWT whose role is
	// service_role, as a project's service key is.
	Key = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJvbGUiOiJzZXJ2aWNlX3JvbGUifQ.storagetest-service-role"
	// SecretKey is a newer secret key, accepted like Key.
	SecretKey = "sb_secret_storagetest0123456789"
	// AnonKey is the project's anon key: a valid JWT whose role is anon. As
	// with the real server, row-level security then hides everything:
	// listing answers [], deleting answers success and deletes nothing,
	// downloading says "Object not found", and writes are refused.
	AnonKey = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJvbGUiOiJhbm9uIn0.storagetest-anon"
	// ExpiredKey is a JWT whose "exp" has passed.
	ExpiredKey = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiZXhwIjoxfQ.expired"
	// ForgedKey is a well-formed JWT with a bad signature.
	ForgedKey = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.forged"
	// Any other key is not a JWT at all ("Invalid Compact JWS").
)

// The server's exact messages.
const (
	MsgObjectNotFound = "Object not found"
	MsgBucketNotFound = "Bucket not found"
	MsgAlreadyExists  = "The resource already exists"
	MsgExpired        = `"exp" claim timestamp check failed`
	MsgBadSignature   = "signature verification failed"
	MsgNotJWS         = "Invalid Compact JWS"
	MsgRLS            = "new row violates row-level security policy"
	// Older servers (v1.11.2) word the JWT errors differently.
	MsgLegacyBadSignature = "invalid signature"
	MsgLegacyExpired      = "jwt expired"
	MsgLegacyNotJWS       = "jwt malformed"
	MsgTooLarge           = "The object exceeded the maximum allowed size"
	MsgBucketNotEmpty     = "The bucket you tried to delete is not empty"
	MsgInternal           = "Internal Server Error"
	DefaultMaxFileBytes   = 50 << 20 // the server's global upload limit
)

// Reply is a canned answer.
type Reply struct {
	Status int
	Header http.Header
	Body   string
}

// ErrorReply is the server's usual error: HTTP 400, the real status inside.
func ErrorReply(statusCode, errName, code, message string) Reply {
	b, _ := json.Marshal(map[string]string{"statusCode": statusCode, "error": errName, "code": code, "message": message})
	return Reply{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Body: string(b)}
}

// Canned failures of the real server and its proxies.
var (
	// InternalError is the database being down: a true HTTP 500.
	InternalError = Reply{Status: 500, Header: http.Header{"Content-Type": {"application/json"}},
		Body: `{"statusCode":"500","code":"InternalError","error":"internal","message":"Internal Server Error"}`}
	// SlowDown is "too many connections": HTTP 429, asking for 2 seconds.
	SlowDown = Reply{Status: 429, Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"2"}},
		Body: `{"statusCode":"429","code":"SlowDown","error":"slow_down","message":"Too many connections issued to the database"}`}
	// BadGatewayHTML is a proxy's HTML 502 (storage-go turns it into "").
	BadGatewayHTML = Reply{Status: 502, Header: http.Header{"Content-Type": {"text/html"}},
		Body: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"}
	// DatabaseTimeout is HTTP 544.
	DatabaseTimeout = Reply{Status: 544, Header: http.Header{"Content-Type": {"application/json"}},
		Body: `{"statusCode":"544","code":"DatabaseTimeout","error":"database_timeout","message":"The connection to the database timed out"}`}
)

// Request is what the fake saw of one request.
type Request struct {
	Method  string
	Path    string // escaped, as sent
	Header  http.Header
	Chunked bool
	Size    int
}

// Stored is an object as the fake holds it.
type Stored struct {
	Data        []byte
	ContentType string
	Updated     time.Time
}

type bucket struct {
	maxBytes int64
	mimes    []string
	objects  map[string]*Stored
}

// Server is the fake. Use BaseURL (…/storage/v1) with storage.NewSupabase.
type Server struct {
	*httptest.Server
	// BaseURL is the storage API's base.
	BaseURL string

	mu       sync.Mutex
	buckets  map[string]*bucket
	replies  []Reply
	requests []Request
	delay    time.Duration
	nextID   int
	prefix   string // "/storage/v1/" behind the gateway, "/" for a bare server
	gateway  bool   // the gateway refuses a request without apikey
	legacy   bool   // v1.11.2's JWT messages
}

// NewServer starts a fake closed when t ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{buckets: map[string]*bucket{}, prefix: "/storage/v1/", gateway: true}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.BaseURL = s.URL + "/storage/v1"
	t.Cleanup(s.Close)
	return s
}

// NewBareServer starts a fake of a self-hosted Storage server reached
// without a gateway: it serves at its root (BaseURL is its URL) and does
// not ask for apikey.
func NewBareServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{buckets: map[string]*bucket{}, prefix: "/"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.BaseURL = s.URL
	t.Cleanup(s.Close)
	return s
}

// SetLegacy makes the fake answer JWT failures as Storage v1.11.2 does:
// "invalid signature", "jwt expired", "jwt malformed".
func (s *Server) SetLegacy(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacy = on
}

// FailNext makes the next requests answer the given replies, in order.
func (s *Server) FailNext(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

// SetDelay makes every answer wait d (or until the request is cancelled).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns what was sent so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// CreateBucket adds a bucket with an upload limit (0: the server's) and
// allowed MIME types (none: any).
func (s *Server) CreateBucket(id string, maxBytes int64, mimes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[id] = &bucket{maxBytes: maxBytes, mimes: mimes, objects: map[string]*Stored{}}
}

// PutObject stores an object directly (seeding a test), creating the
// bucket if needed.
func (s *Server) PutObject(bucketID, key string, data []byte, contentType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucketID]
	if !ok {
		b = &bucket{objects: map[string]*Stored{}}
		s.buckets[bucketID] = b
	}
	b.objects[key] = &Stored{Data: bytes.Clone(data), ContentType: contentType, Updated: time.Now().UTC()}
}

// Object returns a stored object.
func (s *Server) Object(bucketID, key string) (Stored, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucketID]
	if !ok {
		return Stored{}, false
	}
	o, ok := b.objects[key]
	if !ok {
		return Stored{}, false
	}
	return Stored{Data: slices.Clone(o.Data), ContentType: o.ContentType, Updated: o.Updated}, true
}

// Keys lists a bucket's keys, sorted.
func (s *Server) Keys(bucketID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	if b, ok := s.buckets[bucketID]; ok {
		for k := range b.objects {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(),
		Chunked: slices.Contains(r.TransferEncoding, "chunked"), Size: len(body)})
	var canned *Reply
	if len(s.replies) > 0 {
		canned = &s.replies[0]
		s.replies = s.replies[1:]
	}
	delay, prefix, gateway, legacy := s.delay, s.prefix, s.gateway, s.legacy
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if canned != nil {
		for k, v := range canned.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(canned.Status)
		io.WriteString(w, canned.Body)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		routeNotFound(w, r)
		return
	}
	// Hosted Supabase's gateway refuses a request without apikey.
	if gateway && r.Header.Get("apikey") == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "No API key found in request",
			"hint": "No `apikey` request header or url param was found."})
		return
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			writeError(w, "400", "Invalid Input", "InvalidKey", "Invalid key: "+seg)
			return
		}
		segs[i] = u
	}
	authErr := jwtError(r.Header.Get("Authorization"), legacy)
	anonymous := r.Method == http.MethodGet && len(segs) >= 3 && segs[0] == "object" &&
		segs[1] != "authenticated" && segs[1] != "info" && segs[1] != "public"
	if authErr != "" {
		if anonymous {
			// The anonymous route takes a bad key for an anonymous caller,
			// who can see no bucket.
			writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
			return
		}
		if legacy {
			// v1.11.2 sends no code with its JWT errors.
			b, _ := json.Marshal(map[string]string{"statusCode": "403", "error": "Unauthorized", "message": authErr})
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(b)
			return
		}
		writeError(w, "403", "Unauthorized", "AccessDenied", authErr)
		return
	}
	if r.Header.Get("Authorization") == "Bearer "+AnonKey {
		anonymousCaller(w, r, segs)
		return
	}
	switch {
	case r.Method == http.MethodPost && len(segs) == 1 && segs[0] == "bucket":
		s.createBucket(w, body)
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "bucket":
		s.getBucket(w, segs[1])
	case r.Method == http.MethodDelete && len(segs) == 2 && segs[0] == "bucket":
		s.deleteBucket(w, segs[1])
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "object" && segs[1] == "list":
		s.list(w, segs[2], body)
	case r.Method == http.MethodDelete && len(segs) == 2 && segs[0] == "object":
		s.remove(w, segs[1], body)
	case r.Method == http.MethodGet && len(segs) >= 4 && segs[0] == "object" && segs[1] == "authenticated":
		s.download(w, segs[2], segs[3:])
	case anonymous:
		s.download(w, segs[1], segs[2:])
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && len(segs) >= 3 && segs[0] == "object":
		s.upload(w, r, segs[1], segs[2:], body)
	default:
		routeNotFound(w, r)
	}
}

func jwtError(authz string, legacy bool) string {
	token, ok := strings.CutPrefix(authz, "Bearer ")
	switch {
	case ok && (token == Key || token == SecretKey || token == AnonKey):
		return ""
	case token == ExpiredKey && legacy:
		return MsgLegacyExpired
	case token == ExpiredKey:
		return MsgExpired
	case strings.Count(token, ".") == 2 && legacy:
		return MsgLegacyBadSignature
	case strings.Count(token, ".") == 2:
		return MsgBadSignature
	case legacy:
		return MsgLegacyNotJWS
	default:
		return MsgNotJWS
	}
}

// anonymousCaller answers as the real server does a caller whom row-level
// security lets see no row: reads find nothing, deletes succeed and remove
// nothing, writes are refused.
func anonymousCaller(w http.ResponseWriter, r *http.Request, segs []string) {
	switch {
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "object" && segs[1] == "list",
		r.Method == http.MethodDelete && len(segs) == 2 && segs[0] == "object":
		writeJSON(w, http.StatusOK, []any{})
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "bucket":
		writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
	case r.Method == http.MethodGet && len(segs) >= 3 && segs[0] == "object":
		writeError(w, "404", "not_found", "NoSuchKey", MsgObjectNotFound)
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		writeError(w, "403", "Unauthorized", "Unauthorized", MsgRLS)
	default:
		routeNotFound(w, r)
	}
}

func routeNotFound(w http.ResponseWriter, r *http.Request) {
	// Fastify's own 404: a true HTTP 404 with a numeric statusCode.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"message":"Route %s:%s not found","error":"Not Found","statusCode":404}`, r.Method, r.URL.Path)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, statusCode, errName, code, message string) {
	rep := ErrorReply(statusCode, errName, code, message)
	for k, v := range rep.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(rep.Status)
	io.WriteString(w, rep.Body)
}

// validKey applies the server's key rule: only its character set, and no
// empty, "." or ".." segments (the file backend).
func validKey(segs []string) (string, bool) {
	key := strings.Join(segs, "/")
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return key, false
		}
	}
	for _, r := range key {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune("_/!.*'() &$=@;:+,?-", r)
		if !ok {
			return key, false
		}
	}
	return key, true
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, bucketID string, segs []string, body []byte) {
	key, ok := validKey(segs)
	if !ok {
		writeError(w, "400", "Invalid Input", "InvalidKey", "Invalid key: "+key)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucketID]
	if !ok {
		writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
		return
	}
	limit := int64(DefaultMaxFileBytes)
	if b.maxBytes > 0 {
		limit = b.maxBytes
	}
	// Like the real server, the limit is checked on Content-Length only: a
	// chunked upload gets past it.
	if r.ContentLength > limit {
		writeError(w, "413", "Payload too large", "EntityTooLarge", MsgTooLarge)
		return
	}
	if len(b.mimes) > 0 && !slices.Contains(b.mimes, strings.TrimSpace(strings.Split(ct, ";")[0])) {
		writeError(w, "415", "invalid_mime_type", "InvalidMimeType", "mime type "+ct+" is not supported")
		return
	}
	if _, exists := b.objects[key]; exists && r.Method == http.MethodPost && r.Header.Get("x-upsert") != "true" {
		writeError(w, "409", "Duplicate", "KeyAlreadyExists", MsgAlreadyExists)
		return
	}
	b.objects[key] = &Stored{Data: bytes.Clone(body), ContentType: ct, Updated: time.Now().UTC()}
	s.nextID++
	writeJSON(w, http.StatusOK, map[string]string{"Key": bucketID + "/" + key,
		"Id": fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextID)})
}

func (s *Server) download(w http.ResponseWriter, bucketID string, segs []string) {
	key := strings.Join(segs, "/")
	s.mu.Lock()
	b, ok := s.buckets[bucketID]
	var o *Stored
	if ok {
		o = b.objects[key]
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
		return
	case o == nil:
		writeError(w, "404", "not_found", "NoSuchKey", MsgObjectNotFound)
		return
	}
	sum := md5.Sum(o.Data)
	w.Header().Set("Content-Type", o.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(o.Data)))
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("Last-Modified", o.Updated.Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	w.Write(o.Data)
}
