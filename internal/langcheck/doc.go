// Package langcheck tells whether a file parses for its language, so that
// a syntax error that the editor model wrote is sent back to it with the
// file and line ("app.py:12:5: expected ':'") before anything is built or
// committed. It is a static check of each changed file on its own: no
// types, imports, or other files are looked at.
//
//	ps := langcheck.CheckAll(map[string][]byte{"app.py": src, "web/main.tsx": tsx})
//	for _, p := range ps { fmt.Println(p) } // sorted by path, line, column
//
// Language picks the checker by extension or name; a file it does not know
// (or larger than MaxSize) is not checked. Check never panics (a panic in a
// parser is recovered and reported as a problem) and takes bounded time:
// inputs that would make a recursive parser slow (brackets nested a
// thousand deep) are reported instead of parsed. A file that is not valid
// UTF-8 is a problem in every language (in Python unless a PEP 263 coding
// line names another encoding). At most ten problems are kept per file.
//
// Everything is pure Go, so binaries stay static and CGO-free. The parsers,
// and why:
//
//   - Go: the standard library's go/parser (AllErrors), the compiler's own
//     grammar; nothing to add.
//   - JavaScript, TypeScript, JSX, TSX and CSS:
//     github.com/evanw/esbuild/pkg/api (Transform with the loader for the
//     extension). esbuild is widely used, actively kept, has no
//     dependencies but x/sys, follows current ECMAScript, TypeScript and
//     CSS (nesting, @layer, @container), and reports each error with a
//     line and column. A .js file is parsed again as JSX when JSX is what
//     fails. CSS parsers never fail, so esbuild's "css-syntax-error" and
//     "js-comment-in-css" warnings count as problems (unbalanced braces, a
//     missing ':', an unterminated string: a browser drops the rule).
//   - JSON: the standard library's encoding/json, its error offset turned
//     into a line and column. JSON with comments (tsconfig.json,
//     jsconfig.json, .vscode/*.json, *.jsonc, .babelrc) has its comments
//     and trailing commas blanked first. A byte order mark is a problem in
//     JSON (JSON.parse and Python's json reject it).
//   - YAML: go.yaml.in/yaml/v3, the YAML organisation's continuation of
//     gopkg.in/yaml.v3 (a port of libyaml, the reference parser, and what
//     Go tools read YAML with). Every document of a stream is decoded into
//     a yaml.Node (no tag resolution, no alias expansion). yaml.v3 names the
//     line of the enclosing construct rather than of the error, so the
//     position and wording come from github.com/goccy/go-yaml's parser when
//     it agrees the file is broken (it only reads files under 256 KiB with
//     brackets nested under 200 deep, as it slows on deep nesting). Keys
//     repeated in one mapping, which YAML forbids, are problems too.
//   - TOML: github.com/pelletier/go-toml/v2. Its DecodeError gives the row
//     and column, it is fast and limits nesting; BurntSushi/toml was
//     rejected because deeply nested inline tables cost it minutes and
//     gigabytes.
//   - HTML: golang.org/x/net/html's tokenizer, with the structural rules
//     described at checkHTML (HTML itself never fails to parse): unclosed
//     or misnested elements that must be closed, stray end tags,
//     unterminated tags and comments, and inline <script> (esbuild, or
//     encoding/json for JSON types) and <style> (esbuild's CSS). Void
//     elements, optional end tags and self-closing tags never fail. In a
//     template (a file holding {{, {%, <% or <?php) only unclosed
//     <script>/<style> and inline code without template markers are
//     checked.
//   - Python: no pure-Go parser accepts modern Python: github.com/go-python/
//     gpython v0.2.0 implements the 3.4 grammar and rejected 13 of 16 valid
//     snippets tried (f-strings, walrus, match, annotated assignment, async
//     def, positional-only parameters, 1_000, {**d}, PEP 695...). So Python
//     is checked at the tokenizer level, with CPython's messages (see
//     pythoncheck.go): strings, brackets, indentation, line continuations
//     and stray characters, but not the grammar. It accepts every file of
//     CPython 3.13's standard library; on 1,080 randomly broken copies of
//     them it caught 93% of what CPython rejects, at CPython's line for 98%
//     of those, and never flagged a file CPython accepts.
//   - Markdown: everything is valid Markdown; a fenced code block (``` or
//     ~~~) that is opened and never closed is reported, since it swallows
//     the rest of the document.
package langcheck
