package langcheck

import "testing"

func TestHTML(t *testing.T) {
	runSnippets(t, "x.html", []snippet{
		{"optional end tags", "<p>a<p>b<ul><li>1<li>2</ul><dl><dt>t<dd>d</dl><select><option>a<option>b</select>", 0, ""},
		{"table optional", "<table><caption>c<colgroup><col><thead><tr><th>h<tbody><tr><td>1<td>2<tfoot><tr><td>f</table>", 0, ""},
		{"implied head and body end", "<!doctype html><html><meta charset=utf-8><title>t</title></head><p>x</body></html>", 0, ""},
		{"void and self-closing", "<br><br/><img src=x><input disabled><hr/><div/><wbr><source><embed><link rel=x><meta a=b>", 0, ""},
		{"void end tag", "<p>a</br></img>", 0, ""},
		{"svg", "<svg viewBox='0 0 1 1'><path d=''/><g><rect/><circle></circle></g><foreignObject><div>x</div></foreignObject></svg>", 0, ""},
		{"svg cdata", "<svg><style><![CDATA[ .a > b { fill: red } ]]></style></svg>", 0, ""},
		{"math", "<math><mrow><mi>x</mi></mrow></math>", 0, ""},
		{"script with tags", "<script>if (a < b && c > d) document.write('<div>');</script>", 0, ""},
		{"script module", "<script type=module>import x from './x.js'; await x();</script>", 0, ""},
		{"script babel", "<script type=\"text/babel\">const App = () => <div>hi</div>;</script>", 0, ""},
		{"script not js", "<script type=\"text/x-template\"><div>{{ a }</script><script type=text/plain>not js (</script>", 0, ""},
		{"script src empty", "<script src=app.js defer></script>", 0, ""},
		{"importmap", "<script type=importmap>{\"imports\": {}}</script>", 0, ""},
		{"style", "<style>.a { & .b { color: red } } @media (width > 1px) { a { b: c } }</style>", 0, ""},
		{"rcdata", "<textarea><div></textarea><title>a < b</title>", 0, ""},
		{"comments", "<!-- <div> --><!----><!-- a -- b -->", 0, ""},
		{"vue template", "<div id=app><p v-if=\"ok\">{{ msg }}</p></div>", 0, ""},
		{"jinja branches", "{% if a %}<a href=x>{% else %}<span>{% endif %}t{% if a %}</a>{% else %}</span>{% endif %}", 0, ""},
		{"php", "<?php if ($a): ?><div><?php endif; ?>", 0, ""},
		{"template script with markers", "{% block x %}<script>var d = {{ d|tojson }};</script>{% endblock %}", 0, ""},
		{"stray optional end tags", "</p></li></td></tr></body></html>", 0, ""},
		{"custom elements", "<my-card title=x><span slot=a>t</span></my-card>", 0, ""},
		{"uppercase", "<DIV><P>x</P></div>", 0, ""},

		{"unclosed div", "<div>\n<p>x\n", 1, "element <div> is never closed"},
		{"unclosed in template", "<div>{{ x }}\n<script>\nlet a = 1;\n", 2, "element <script> is never closed"},
		{"misnested", "<b><i>x</b></i>", 1, "element <i> opened at line 1 is not closed before </b>"},
		{"stray end tag", "<div></div>\n</div>", 2, "end tag </div> has no matching start tag"},
		{"unterminated tag", "<p>ok</p>\n<div class=\"x", 2, "unterminated tag"},
		{"unterminated end tag", "<p>ok</p>\n</di", 2, "unterminated tag"},
		{"unterminated doctype", "<!doctype html", 1, "unterminated <!DOCTYPE"},
		{"unterminated comment", "<div>\n<!-- open\n</div>", 2, "comment <!-- is never closed"},
		{"script error", "<p>\n<p>\n<script>let x = ;</script>", 3, "in <script>: Unexpected \";\""},
		{"script error second line", "<script>\n  let ok = 1;\n  let x = ;\n</script>", 3, "in <script>"},
		{"json script error", "<script type=\"application/ld+json\">\n{\"a\": }\n</script>", 2, "in <script>: invalid character '}'"},
		{"style error", "<style>\na { color red }\n</style>", 2, "in <style>: Expected \":\""},
		{"style unclosed brace", "<style>\na { color: red;\n</style>", 3, "in <style>: Expected \"}\" to go with \"{\" (the unbalanced \"{\" is at line 2, column 3)"},
		{"unclosed a", "<p><a href=x>link</p>", 1, "element <a> opened at line 1 is not closed before </p>"},
	})
}

// The position of an error inside an inline script is the file's.
func TestHTMLScriptColumn(t *testing.T) {
	ps := Check("x.html", []byte("<p>\n<p>\n  <script>let x = ;</script>"))
	if len(ps) != 1 || ps[0].Line != 3 || ps[0].Column != 19 {
		t.Fatalf("got %v, want 3:19", ps)
	}
}

func TestMarkdown(t *testing.T) {
	runSnippets(t, "x.md", []snippet{
		{"closed fences", "```go\nx\n```\n~~~\ny\n~~~\n", 0, ""},
		{"inline triple backticks", "Use ```code``` inline.\n", 0, ""},
		{"longer closing fence", "```\nx\n`````\n", 0, ""},
		{"fence inside longer fence", "````md\n```\ninner\n```\n````\n", 0, ""},
		{"other char inside", "~~~\n```\n~~~\n", 0, ""},
		{"list fence", "1. a:\n   ```sh\n   ls\n   ```\n- b\n  ```\n  x\n  ```\n", 0, ""},
		{"list marker on fence line", "- ```js\n  x\n  ```\n", 0, ""},
		{"blockquote fence", "> ```\n> x\n> ```\n", 0, ""},
		{"crlf", "```\r\nx\r\n```\r\n", 0, ""},
		{"closing with trailing spaces", "```\nx\n```   \n", 0, ""},
		{"no fences", "# Title\n\ntext `code` and ``two``\n", 0, ""},

		{"unclosed", "# T\n\n```js\nx\n", 3, "code fence ``` opened here is never closed"},
		{"closing too short", "````\nx\n```\n", 1, "````"},
		{"closing with info", "```\nx\n```js\n", 1, "never closed"},
		{"tilde unclosed", "text\n~~~\n", 2, "~~~"},
		{"second block unclosed", "```\na\n```\n\n```\nb\n", 5, "never closed"},
	})
}

func TestOtherFormats(t *testing.T) {
	runSnippets(t, "x.json", []snippet{
		{"nested", `{"a": [1, {"b": null}], "c": "\u00e9"}`, 0, ""},
		{"bad escape", "{\n\"a\": \"\\x\"\n}", 2, "invalid character 'x' in string escape code"},
		{"two values", "{}\n{}", 2, "invalid character '{' after top-level value"},
		{"nan", "[NaN]", 1, "invalid character 'N'"},
	})
	runSnippets(t, "tsconfig.json", []snippet{
		{"comments and trailing commas", "{\n// c\n\"a\": [1, 2, /* c */],\n\"b\": {\"c\": \"//x\", },\n}", 0, ""},
		{"unterminated block comment", "{\n\"a\": 1 /* x\n}", 2, "invalid character '/'"},
		{"missing comma", "{\n\"a\": 1 // c\n\"b\": 2\n}", 3, "after object key:value pair"},
	})
	runSnippets(t, "x.yaml", []snippet{
		{"merge keys repeated", "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n", 0, ""},
		{"same key different mappings", "a: {k: 1}\nb: {k: 2}\n---\na: 1\n", 0, ""},
		{"empty", "", 0, ""},
		{"comments only", "# nothing\n", 0, ""},
		{"yaml 1.2 directive", "%YAML 1.2\n---\na: 1\n", 0, ""},
		{"duplicate in second document", "a: 1\n---\nb: 1\nc: 2\nb: 3\n", 5, "mapping key \"b\" already defined at line 3"},
		{"duplicate quoted and plain", "\"a\": 1\na: 2\n", 2, "already defined"},
		{"undefined alias", "a: 1\nb: *nope\n", 2, "unknown anchor"},
		{"bad directive", "%YAML 2.0\n---\na: 1\n", 1, "yaml"},
	})
	runSnippets(t, "x.toml", []snippet{
		{"empty", "", 0, ""},
		{"inline table newline (1.1)", "a = {\n  b = 1,\n}\n", 0, ""},
		{"bad date", "d = 1979-13-01\n", 1, "toml"},
		{"array of tables after table", "[a]\nx = 1\n[[a]]\n", 3, "toml"},
	})
	runSnippets(t, "x.css", []snippet{
		{"empty", "", 0, ""},
		{"unknown property is fine", "a { colr: red; -webkit-thing: 1 }", 0, ""},
		{"star hack is a syntax error", ".a { *zoom: 1 }", 1, "Expected identifier but found \"*\""},
		{"stray close", ".a {}\n}\n", 2, "Unexpected \"}\""},
	})
	runSnippets(t, "x.js", []snippet{
		{"regex and division", "const r = /[/]\\//g, d = a / b / c;", 0, ""},
		{"jsx in js", "export default () => <div />;", 0, ""},
		{"error in jsx file", "const a = <div>;\nlet b = ;", 2, "before a closing \"div\" tag (the opening \"div\" tag is at line 1, column 12)"},
		{"duplicate declaration", "let a;\nlet a;", 2, "already been declared"},
	})
	runSnippets(t, "x.ts", []snippet{
		{"angle assertion", "const n = <number>x;", 0, ""},
		{"jsx in ts is an error", "const n = <div>x</div>;", 1, ""},
	})
	runSnippets(t, "x.go", []snippet{
		{"missing package", "func main() {}\n", 1, "expected 'package'"},
		{"several errors", "package a\nfunc f() { x := }\nfunc g() { y := }\n", 2, "expected operand"},
	})
}
