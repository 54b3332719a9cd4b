package storagetest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Bucket, list and delete routes.

func (s *Server) createBucket(w http.ResponseWriter, body []byte) {
	var in struct {
		ID               string   `json:"id"`
		Name             string   `json:"name"`
		FileSizeLimit    any      `json:"file_size_limit"`
		AllowedMimeTypes []string `json:"allowed_mime_types"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Name == "" {
		writeError(w, "400", "Bad Request", "InvalidRequest", "body must have required property 'name'")
		return
	}
	if in.ID == "" {
		in.ID = in.Name
	}
	if !validBucket(in.ID) {
		writeError(w, "400", "Invalid Input", "InvalidBucketName", "Bucket name invalid")
		return
	}
	var limit int64
	switch v := in.FileSizeLimit.(type) {
	case float64:
		limit = int64(v)
	case string:
		limit, _ = strconv.ParseInt(v, 10, 64)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[in.ID]; ok {
		writeError(w, "409", "Duplicate", "BucketAlreadyExists", MsgAlreadyExists)
		return
	}
	s.buckets[in.ID] = &bucket{maxBytes: limit, mimes: in.AllowedMimeTypes, objects: map[string]*Stored{}}
	writeJSON(w, http.StatusOK, map[string]string{"name": in.ID})
}

func validBucket(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, r := range id {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune("_!.*'() &$=@;:+,?-", r)
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) getBucket(w http.ResponseWriter, id string) {
	s.mu.Lock()
	b, ok := s.buckets[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": id, "owner": "", "public": false,
		"file_size_limit": b.maxBytes, "allowed_mime_types": b.mimes})
}

func (s *Server) deleteBucket(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[id]
	switch {
	case !ok:
		writeError(w, "404", "Bucket not found", "NoSuchBucket", MsgBucketNotFound)
	case len(b.objects) > 0:
		writeError(w, "409", "InvalidRequest", "ResourceNotEmpty", MsgBucketNotEmpty)
	default:
		delete(s.buckets, id)
		writeJSON(w, http.StatusOK, map[string]string{"message": "Successfully deleted"})
	}
}

type listEntry struct {
	Name           string         `json:"name"`
	ID             *string        `json:"id"`
	UpdatedAt      *string        `json:"updated_at"`
	CreatedAt      *string        `json:"created_at"`
	LastAccessedAt *string        `json:"last_accessed_at"`
	Metadata       map[string]any `json:"metadata"`
}

func (s *Server) list(w http.ResponseWriter, bucketID string, body []byte) {
	var in struct {
		Prefix *string `json:"prefix"`
		Limit  int     `json:"limit"`
		Offset int     `json:"offset"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Prefix == nil {
		writeError(w, "400", "Bad Request", "InvalidRequest", "body must have required property 'prefix'")
		return
	}
	if in.Limit <= 0 {
		in.Limit = 100
	}
	folder := strings.ToLower(strings.TrimSuffix(*in.Prefix, "/"))
	if folder != "" {
		folder += "/"
	}
	s.mu.Lock()
	entries := map[string]listEntry{}
	if b, ok := s.buckets[bucketID]; ok {
		for key, o := range b.objects {
			if !strings.HasPrefix(strings.ToLower(key), folder) {
				continue
			}
			rest := key[len(folder):]
			if sub, _, isFolder := strings.Cut(rest, "/"); isFolder {
				entries[sub] = listEntry{Name: sub}
				continue
			}
			id, ts := "id-"+key, o.Updated.Format("2006-01-02T15:04:05.000Z")
			sum := md5.Sum(o.Data)
			entries[rest] = listEntry{Name: rest, ID: &id, UpdatedAt: &ts, CreatedAt: &ts, LastAccessedAt: &ts,
				Metadata: map[string]any{"eTag": `"` + hex.EncodeToString(sum[:]) + `"`, "size": len(o.Data),
					"mimetype": o.ContentType, "cacheControl": "max-age=3600", "lastModified": ts,
					"contentLength": len(o.Data), "httpStatusCode": 200}}
		}
	}
	s.mu.Unlock()
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []listEntry{}
	for i := in.Offset; i < len(names) && len(out) < in.Limit; i++ {
		out = append(out, entries[names[i]])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) remove(w http.ResponseWriter, bucketID string, body []byte) {
	var in struct {
		Prefixes []string `json:"prefixes"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Prefixes) == 0 {
		writeError(w, "400", "Bad Request", "InvalidRequest", "body/prefixes must NOT have fewer than 1 items")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]string{}
	if b, ok := s.buckets[bucketID]; ok {
		for _, k := range in.Prefixes {
			if _, ok := b.objects[k]; ok {
				delete(b.objects, k)
				out = append(out, map[string]string{"name": k, "bucket_id": bucketID})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}
