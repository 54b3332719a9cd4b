package storage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/devbot-hq/devbot/internal/fault"
)

const (
	// MaxPathLen bounds a path (the database's CHECK agrees).
	MaxPathLen = 1024
	// MaxNameLen bounds one folder or file name (a filesystem's NAME_MAX).
	MaxNameLen = 255

	// reservedFolder holds devbot's own objects; user paths may not use it.
	reservedFolder = "_devbot"
	// BlobPrefix is where content-addressed version blobs live.
	BlobPrefix = reservedFolder + "/blobs/"

	maxBucketLen = 100
)

// AllowedPathCharacters describes, for help texts, what a path may contain.
const AllowedPathCharacters = "letters A-Z and a-z, digits, spaces and _ - . / ! * ' ( ) & $ = @ ; : + , ?"

// PathError is a refused path. Its message is plain enough to show a user.
// It wraps fault.ErrInvalid and is returned marked permanent.
type PathError struct {
	Path   string
	Reason string // e.g. "the path may not contain '#'"
}

func (e *PathError) Error() string { return e.Reason }
func (e *PathError) Unwrap() error { return fault.ErrInvalid }

// ValidatePath checks a user-supplied project path before it becomes an
// object key: relative, no "." or ".." names, no "//", only characters
// Supabase Storage accepts, at most MaxPathLen characters, and not under
// devbot's reserved folder. Every place that turns user input into a key
// calls it.
func ValidatePath(p string) error {
	if err := validateKey(p, "path"); err != nil {
		return err
	}
	first, _, _ := strings.Cut(p, "/")
	if strings.EqualFold(first, reservedFolder) {
		return pathError(p, "paths under '%s/' are reserved for devbot's version history", reservedFolder)
	}
	return nil
}

func pathError(p, format string, args ...any) error {
	return fault.AsPermanent(&PathError{Path: p, Reason: fmt.Sprintf(format, args...)})
}

// validateKey is ValidatePath without the reserved-folder rule: the adapters
// use it, since devbot's own keys live in that folder. what names the thing
// in messages ("path", "folder").
func validateKey(p, what string) error {
	switch {
	case p == "":
		return pathError(p, "the %s is empty", what)
	case !utf8.ValidString(p):
		return pathError(p, "the %s is not valid UTF-8", what)
	case len(p) > MaxPathLen:
		return pathError(p, "the %s is too long (%d characters; at most %d)", what, utf8.RuneCountInString(p), MaxPathLen)
	case p[0] == '/':
		return pathError(p, "the %s may not start with '/'", what)
	}
	for _, r := range p {
		if !allowedRune(r) && r > 0x7f && r != utf8.RuneError && !(r >= 0x80 && r < 0xa0) {
			// Not a typo but a letter of another alphabet: say plainly that
			// only ASCII works, why, and what would.
			return pathError(p, "the %s may not contain '%c': file names may use only ASCII (%s), because Supabase Storage, "+
				"where files are kept, refuses other characters. %s would do", what, r, AllowedPathCharacters, SuggestPath(p))
		}
		if !allowedRune(r) {
			return pathError(p, "the %s may not contain %s", what, describeRune(r))
		}
	}
	switch {
	case strings.HasSuffix(p, "/"):
		return pathError(p, "the %s may not end with '/'", what)
	case strings.Contains(p, "//"):
		return pathError(p, "the %s may not contain '//'", what)
	case p[0] == ' ' || p[len(p)-1] == ' ':
		return pathError(p, "the %s may not start or end with a space", what)
	}
	for name := range strings.SplitSeq(p, "/") {
		switch {
		case name == "." || name == "..":
			return pathError(p, "the %s may not contain '%s' as a folder or file name", what, name)
		case len(name) > MaxNameLen:
			return pathError(p, "a folder or file name may be at most %d characters", MaxNameLen)
		}
	}
	return nil
}

// allowedRune reports whether Supabase Storage accepts r in a key.
func allowedRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("_/!.*'() &$=@;:+,?-", r)
}

func describeRune(r rune) string {
	switch {
	case r == '\\':
		return `'\' (use '/' between folders)`
	case r == '\t':
		return "a tab"
	case r == '\n' || r == '\r':
		return "a line break"
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return fmt.Sprintf("a control character (U+%04X)", r)
	case r == utf8.RuneError:
		return "an invalid character (U+FFFD)"
	default:
		return fmt.Sprintf("'%c'", r)
	}
}

// SuggestPath is p made acceptable to Storage while keeping what it can:
// accents are dropped (é → e, by NFD decomposition), and every other
// refused character becomes '_'. It does not fix structural faults ("..",
// "//", a leading '/'): ValidatePath names those.
func SuggestPath(p string) string {
	var sb strings.Builder
	for _, r := range norm.NFD.String(p) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a combining accent: drop it, keep its letter
		case allowedRune(r):
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// validateBucket checks a bucket name against Supabase's rule; "." and ".."
// are refused too, since the local adapter makes a bucket a directory.
func validateBucket(b string) error {
	bad := func(why string) error {
		return fault.AsPermanent(fmt.Errorf("%w: bucket name %q %s", fault.ErrInvalid, b, why))
	}
	switch {
	case b == "":
		return bad("is empty")
	case len(b) > maxBucketLen:
		return bad(fmt.Sprintf("is longer than %d characters", maxBucketLen))
	case b == "." || b == "..":
		return bad("is not allowed")
	}
	for _, r := range b {
		if r == '/' || !allowedRune(r) {
			return bad(fmt.Sprintf("may not contain %q", r))
		}
	}
	return nil
}

// validateFolder checks a List prefix: "" (the root) or a key, with an
// optional trailing '/'.
func validateFolder(prefix string) (string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return "", nil
	}
	return prefix, validateKey(prefix, "folder")
}

// validatePut checks an upload's arguments before any adapter does work, so
// both refuse the same inputs with the same errors.
func validatePut(bucket, key string, data []byte) error {
	if err := validateKeys(bucket, key); err != nil {
		return err
	}
	if len(data) > MaxObjectBytes {
		return tooLarge("the object", int64(len(data)), MaxObjectBytes)
	}
	return nil
}

// validateKeys checks a bucket and object keys before any request is made.
func validateKeys(bucket string, keys ...string) error {
	if err := validateBucket(bucket); err != nil {
		return err
	}
	for _, k := range keys {
		if err := validateKey(k, "path"); err != nil {
			return err
		}
	}
	return nil
}
