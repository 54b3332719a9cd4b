// Package langcheck tells whether a file parses for its language, so that
// a syntax error that the editor model wrote goes back to it with the file
// and line ("app.py:12:5: expected ':'") before anything is built or
// committed. Each changed file is checked on its own: no types, imports or
// other files are looked at. The change-set path and the editor path call
// the same two functions:
//
//	ps := langcheck.CheckAll(map[string][]byte{"app.py": src, "web/main.tsx": tsx})
//	for _, p := range ps { fmt.Println(p) } // sorted by path, line, column
//
// Language picks the checker by extension or name; a file it does not know
// is not checked, nor is one larger than MaxSize (2 MiB). A file that is not
// valid UTF-8 is a problem in every language (in Python unless a PEP 263
// coding line names another encoding). At most ten problems are kept per
// file; columns count bytes.
//
// Check never panics: a panic in a parser is recovered and reported. It
// takes bounded time: every parser here is linear or guarded, the slowest
// adversarial 2 MiB input found takes under 2 s, and input that would make
// a recursive parser slow or overflow its stack (which kills the process,
// unlike a panic) is reported as nesting too deep instead of being parsed.
//
// Everything is pure Go, so binaries stay static and CGO-free. The parsers,
// and why:
//
//   - Go: the standard library's go/parser (AllErrors), the compiler's own
//     grammar; it limits nesting itself.
//   - JavaScript, TypeScript, JSX, TSX and CSS: esbuild's Go API
//     (github.com/evanw/esbuild/pkg/api, Transform with the loader for the
//     extension). esbuild is widely used and actively kept, depends only on
//     x/sys, follows current ECMAScript, TypeScript and CSS (nesting,
//     @layer, @container), and gives each error a line and column; its notes
//     ("the unbalanced '{' is here") are added to the message. A .js file is
//     parsed again as JSX when JSX is what fails. CSS parsers never fail, so
//     esbuild's "css-syntax-error" and "js-comment-in-css" warnings count as
//     problems (unbalanced braces, a missing ':', an unterminated string, a
//     "//" comment: a browser drops the rule). esbuild recurses on deep
//     expressions (!!!…x, a.b.b…, a=>a=>…, tagged templates, JSX): 300 KB of
//     them overflow the stack. jsDepth estimates that depth in one pass and
//     stops at 1,000; over 7,088 real JS/TS files (npm, bundles, minified
//     code) the estimate's median was 1, its 99th percentile 42 and its
//     maximum 308. The output is printed minified, which avoids esbuild's
//     quadratic indentation and cubic renaming on deep input.
//   - JSON: the standard library's encoding/json, its error offset turned
//     into a line and column. JSON with comments (tsconfig*.json,
//     jsconfig*.json, .vscode/*.json, devcontainer.json, *.jsonc and a few
//     other tools' files) has its comments and trailing commas blanked
//     first; JSON5 (.babelrc, *.json5) is not checked. A byte order mark is
//     a problem in JSON (JSON.parse and Python's json reject it).
//   - YAML: go.yaml.in/yaml/v3, the YAML organisation's continuation of
//     gopkg.in/yaml.v3 (a port of libyaml, the reference parser, and what
//     Go tools read YAML with). Every document of a stream is decoded into
//     a yaml.Node (no tag resolution, no alias expansion). yaml.v3 names the
//     line of the enclosing construct rather than of the error, so the
//     position and wording come from github.com/goccy/go-yaml's parser when
//     it agrees that the file is broken (only for files under 256 KiB with
//     brackets nested under 200 deep: it slows down on deep nesting).
//     Repeated keys in one mapping, which YAML forbids, are problems too.
//   - TOML: github.com/pelletier/go-toml/v2. Its DecodeError gives the row
//     and column, it is fast and it limits nesting. BurntSushi/toml was
//     rejected: 20,000 nested inline tables cost it a minute and 18 GB.
//   - HTML: golang.org/x/net/html's tokenizer, with the rules described in
//     htmlcheck.go (HTML itself never fails to parse): elements that must be
//     closed and are not, or are closed out of order, stray end tags,
//     unterminated tags, comments and doctypes, and inline <script>
//     (esbuild, or encoding/json for JSON types) and <style> (esbuild's
//     CSS). Void elements, optional end tags, self-closing tags, attributes
//     and content models never fail. In a template (a file holding {{, {%,
//     <% or <?php) element structure is not checked, only unclosed
//     <script>/<style> and inline code without template markers.
//   - Python: no pure-Go parser accepts today's Python. go-python/gpython
//     v0.2.0 implements the 3.4 grammar and rejected 13 of 16 valid
//     snippets tried (f-strings, walrus, match, annotated assignment, async
//     def, positional-only parameters, 1_000, {**d}, PEP 695...). So Python
//     is checked at the level of its tokenizer, with CPython's messages (see
//     pythoncheck.go): strings, f-strings, brackets, indentation, line
//     continuations, a missing ':' before a block, stray characters; not the
//     grammar. It accepts all 2,133 files of CPython 3.13's standard library
//     that CPython accepts; on 2,192 randomly broken copies of them that
//     CPython rejects it caught 93%, at CPython's line for 98% of those, and
//     it flagged none of the 2,702 broken copies that CPython accepts.
//   - Markdown: everything is valid Markdown; a fenced code block (``` or
//     ~~~) that is opened and never closed is reported, since it swallows
//     the rest of the document.
package langcheck
