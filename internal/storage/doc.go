// Package storage keeps project files: a small Backend interface with two
// adapters (Supabase Storage and the local filesystem), the one validator of
// user-supplied paths, and Files, which stores versions so that a refinement
// never destroys what it replaces.
//
// # Buckets and keys
//
// A project's bucket is named by the project's UUID; object keys are the
// project's relative file paths. ValidatePath is the only gate from user input
// to a key: it refuses what Supabase refuses (and what storage-go would
// silently rewrite: `?` and `#` truncate a key, `..` segments are resolved
// away), and its error names the offending character in words a user can act
// on.
//
// # Versions
//
// Every version's bytes live in a content-addressed blob under the reserved
// prefix BlobPrefix (`_devbot/blobs/<sha256>`), which ValidatePath refuses
// for user paths. Postgres (db.CommitVersion) maps path and version to a blob
// key. A write is therefore: PutBlob, then commit the version in Postgres,
// then PublishCurrent, which copies the bytes to the plain path so that a
// person browsing the bucket in Supabase's dashboard sees the project's files.
// A crash after PutBlob leaves only an unreferenced blob (nothing visible); a
// crash after the commit leaves a stale plain copy that the next write
// replaces. Readers therefore read the blob named by Postgres, never the plain
// path. Blobs are never overwritten or deleted here, so history and undo can
// restore any earlier version.
//
// # The Supabase adapter and storage-go
//
// Supabase is built on storage-go v0.8.1, the product's named client, but
// avoids the parts of it that are wrong (see facts/supabase-storage.md):
//   - storage-go's client shares a header map between requests and lets
//     upload options stick, so Supabase builds a new storage-go client for
//     every operation (cheap; connections stay pooled in
//     http.DefaultTransport), with the content type and x-upsert of that
//     operation fixed at construction;
//   - its convenience methods take no context, so every request is built with
//     http.NewRequestWithContext and sent through the client's exported Do:
//     deadlines and cancellation are honoured;
//   - downloads use the authenticated route, which reports an expired key as
//     an auth error instead of "Bucket not found";
//   - keys are validated and every path segment escaped before they reach it;
//   - its errors drop the HTTP status's meaning and the body's statusCode and
//     code, so errors are classified from the HTTP status, the server's exact
//     messages and the operation (see classify), and an empty message (an
//     HTML 502 from a proxy) becomes the status text.
//
// storage-go always sends through http.DefaultTransport and cannot take an
// *http.Client; NewSupabase therefore uses only the Timeout of the client it
// is given, as a deadline on each operation. No direct net/http call is made.
//
// # The local adapter
//
// Local keeps the same semantics on a directory, for `devbot dev` and tests:
// writes go to a temporary file, synced, that is renamed (or hard-linked,
// when overwriting is not allowed) into place, and every access goes through
// one os.Root, so nothing outside the directory can be reached, even by a
// symbolic link. The content type is an extended attribute of the file, so
// one file and one fsync hold an object. PublishCurrent on Local hard-links
// the plain path to the blob's file (files are never changed in place, only
// replaced), so a plain copy costs no write and no fsync; its modification
// time is the blob's.
package storage
