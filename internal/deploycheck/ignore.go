package deploycheck

import (
	"regexp"
	"strings"
)

// IgnoreRules is a parsed ignore file: .gcloudignore (gitignore rules, which
// `gcloud builds submit` applies to the upload) or a Docker ignore file
// (Docker's rules, which BuildKit applies to the build context).
type IgnoreRules struct {
	docker bool
	rules  []ignoreRule
}

type ignoreRule struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool // gitignore: a trailing slash matches directories only
}

// ParseGcloudIgnore parses .gcloudignore: gitignore's syntax. A pattern
// without a slash (other than a trailing one) matches a name at any depth;
// one with a slash is relative to the root. gcloud's "#!include:" directive
// is not followed: the file must name every pattern itself.
func ParseGcloudIgnore(text string) *IgnoreRules { return parseIgnore(text, false) }

// ParseDockerIgnore parses a .dockerignore: every pattern is relative to
// the context root ("*.test" matches at the root only; "**/*.test" at any
// depth), and a pattern that matches a directory excludes what is in it.
func ParseDockerIgnore(text string) *IgnoreRules { return parseIgnore(text, true) }

func parseIgnore(text string, docker bool) *IgnoreRules {
	r := &IgnoreRules{docker: docker}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if docker {
			line = strings.TrimSpace(line)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			rule.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			rule.dirOnly, line = !docker, strings.TrimRight(line, "/")
		}
		anchored := docker || strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		if docker {
			line = strings.TrimPrefix(line, "./")
		}
		expr := globRegexp(line)
		if !anchored {
			expr = "(.*/)?" + expr
		}
		rule.re = regexp.MustCompile("^" + expr + "$")
		r.rules = append(r.rules, rule)
	}
	return r
}

// globRegexp translates a glob: ** crosses directories, * and ? do not.
func globRegexp(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// Ignored reports whether the file at path (slash-separated, relative to
// the root) is left out: it, or a directory it is in, matches a rule last
// that is not negated.
func (r *IgnoreRules) Ignored(path string) bool {
	parts := strings.Split(path, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		isDir := i < len(parts)-1
		if r.match(prefix, isDir) {
			return true
		}
	}
	return false
}

func (r *IgnoreRules) match(path string, isDir bool) bool {
	ignored := false
	for _, rule := range r.rules {
		if rule.dirOnly && !isDir {
			continue
		}
		if rule.re.MatchString(path) {
			ignored = !rule.negate
		}
	}
	return ignored
}
