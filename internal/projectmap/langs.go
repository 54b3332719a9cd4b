package projectmap

import "regexp"

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// C-family modifiers and keywords shared by several specs.
const (
	cComment = "//"
	rustVis  = `(?:pub(?:\([^)]*\))?\s+)?`
	rustMods = `(?:(?:async|const|unsafe|extern\s+"[^"]*"|default)\s+)*`
)

var (
	pythonSpec = &lineSpec{
		top: []rule{
			{kind: "func", re: re(`^(?:async\s+)?def\s+(?P<name>\w+)`)},
			{kind: "class", re: re(`^class\s+(?P<name>\w+)`), container: true},
			{kind: "const", re: re(`^(?P<name>[A-Z][A-Z0-9_]*)\s*(?::[^=]*)?=[^=]`)},
		},
		member: []rule{
			{kind: "method", re: re(`^(?:async\s+)?def\s+(?P<name>\w+)`)},
			{kind: "class", re: re(`^class\s+(?P<name>\w+)`), container: true},
		},
		lineComments: []string{"#"},
		tripleQuotes: true,
		trimSuffix:   []string{":"},
	}

	jsTop = []rule{
		{kind: "func", re: re(`^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:async\s+)?function\s*\*?\s*(?P<name>[\w$]+)`)},
		{kind: "class", re: re(`^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?class\s+(?P<name>[\w$]+)`), container: true},
		{kind: "interface", re: re(`^(?:export\s+)?(?:default\s+)?(?:declare\s+)?interface\s+(?P<name>[\w$]+)`), container: true},
		{kind: "type", re: re(`^(?:export\s+)?(?:declare\s+)?(?:const\s+)?(?:type|enum)\s+(?P<name>[\w$]+)`)},
		{kind: "namespace", re: re(`^(?:export\s+)?(?:declare\s+)?(?:namespace|module)\s+(?P<name>[\w$.]+)`), container: true},
		{kind: "var", re: re(`^(?:export\s+)?(?:declare\s+)?(?:const|let|var)\s+(?P<name>[\w$]+)`)},
		{kind: "var", re: re(`^(?:module\.)?exports\.(?P<name>[\w$]+)\s*=`)},
	}
	jsSpec = &lineSpec{
		top: jsTop,
		member: append([]rule{
			{kind: "method", re: re(`^(?:(?:public|private|protected|static|readonly|async|abstract|override|declare|get|set)\s+)*\*?(?P<name>#?[\w$]+)\s*(?:<[^>]*>)?\s*\(`)},
		}, jsTop...),
		lineComments: []string{cComment},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
	}

	rustItem = rustVis + rustMods + `(?:fn|struct|enum|union|type|const|static(?:\s+mut)?|mod)\s+(?P<name>\w+)`
	rustSpec = &lineSpec{
		top: []rule{
			{kind: "trait", re: re(`^` + rustVis + `(?:unsafe\s+)?trait\s+(?P<name>\w+)`), container: true},
			{kind: "impl", re: re(`^(?:unsafe\s+)?impl(?:\s*<[^{]*?>)?\s+(?P<name>[^{]+?)\s*(?:\{.*)?$`), container: true},
			{kind: "mod", re: re(`^` + rustVis + `mod\s+(?P<name>\w+)\s*\{`), container: true},
			{kind: "macro", re: re(`^(?:#\[macro_export\]\s*)?macro_rules!\s*(?P<name>\w+)`)},
			{kind: "item", re: re(`^` + rustItem)},
		},
		member: []rule{
			{kind: "fn", re: re(`^` + rustVis + rustMods + `fn\s+(?P<name>\w+)`)},
			{kind: "item", re: re(`^` + rustVis + `(?:type|const)\s+(?P<name>\w+)`)},
			{kind: "item", re: re(`^` + rustItem)},
		},
		lineComments: []string{cComment, "#["},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
	}

	javaMods   = `(?:(?:public|protected|private|static|final|abstract|synchronized|native|default|strictfp|sealed|non-sealed|transient|volatile)\s+)*`
	javaType   = `(?:class|interface|enum|record|@interface)`
	javaTypeRe = re(`^` + javaMods + javaType + `\s+(?P<name>\w+)`)
	javaSpec   = &lineSpec{
		top: []rule{
			{kind: "type", re: javaTypeRe, container: true},
		},
		member: []rule{
			{kind: "type", re: javaTypeRe, container: true},
			{kind: "ctor", re: re(`^(?:(?:public|protected|private)\s+)?(?P<name>[A-Z]\w*)\s*\(`), noSemicolon: true},
			{kind: "method", re: re(`^` + javaMods + `(?:<[^>]*>\s+)?[\w.$]+(?:<[^()]*>)?(?:\[\])*\s+(?P<name>\w+)\s*\(`)},
		},
		lineComments: []string{cComment, "@"},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
	}

	kotlinMods = `(?:(?:public|private|internal|protected|open|abstract|sealed|data|inline|value|enum|annotation|final|override|suspend|operator|infix|tailrec|external|actual|expect|inner|companion|const|lateinit)\s+)*`
	kotlinDef  = re(`^` + kotlinMods + `(?:class|interface|object|fun|val|var|typealias)\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?(?P<name>\w+)`)
	kotlinSpec = &lineSpec{
		top:          []rule{{kind: "def", re: kotlinDef, container: true}},
		member:       []rule{{kind: "def", re: kotlinDef, container: true}},
		lineComments: []string{cComment, "@"},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{", "="},
	}

	csharpMods = `(?:(?:public|private|protected|internal|static|sealed|abstract|partial|virtual|override|async|readonly|unsafe|extern|new)\s+)*`
	csharpType = re(`^` + csharpMods + `(?:class|interface|struct|enum|record)\s+(?P<name>\w+)`)
	csharpSpec = &lineSpec{
		top: []rule{
			{kind: "namespace", re: re(`^namespace\s+(?P<name>[\w.]+)`), container: true},
			{kind: "type", re: csharpType, container: true},
		},
		member: []rule{
			{kind: "type", re: csharpType, container: true},
			{kind: "method", re: re(`^` + csharpMods + `[\w.<>\[\],?]+\s+(?P<name>\w+)\s*(?:<[^>]*>)?\s*\(`)},
		},
		lineComments: []string{cComment, "["},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
		maxDepth:     3,
	}

	scalaDef  = re(`^(?:(?:private|protected|final|sealed|abstract|implicit|case|lazy|override|inline|opaque)\s+)*(?:class|object|trait|def|val|var|type|enum|given)\s+(?P<name>\w+)`)
	scalaSpec = &lineSpec{
		top:          []rule{{kind: "def", re: scalaDef, container: true}},
		member:       []rule{{kind: "def", re: scalaDef, container: true}},
		lineComments: []string{cComment, "@"},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{", "="},
	}

	swiftDef  = re(`^(?:(?:public|private|fileprivate|internal|open|final|static|class|mutating|override|convenience|required|@\w+)\s+)*(?:func|class|struct|enum|protocol|extension|actor|typealias|init)\b\s*(?P<name>[\w.]*)`)
	swiftSpec = &lineSpec{
		top:          []rule{{kind: "def", re: swiftDef, container: true}},
		member:       []rule{{kind: "def", re: swiftDef, container: true}},
		lineComments: []string{cComment},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
	}

	cTop = []rule{
		{kind: "macro", re: re(`^#\s*define\s+(?P<name>\w+)`)},
		{kind: "type", re: re(`^(?:template\s*<.*>\s*)?(?:typedef\s+)?(?:struct|union|class|enum(?:\s+class)?)\s+(?:\[\[[^\]]*\]\]\s*)?(?P<name>\w+)\s*(?:final\s*)?(?:[:{].*)?$`), container: true, noSemicolon: true},
		{kind: "namespace", re: re(`^namespace\s+(?P<name>[\w:]+)`), container: true},
		{kind: "typedef", re: re(`^typedef\s+.*?(?P<name>\w+)\s*(?:\[[^\]]*\])?\s*;$`)},
		{kind: "func", re: re(`^(?:template\s*<.*>\s*)?(?:[A-Za-z_][\w:<>,*&~ ]*?[\s*&]+)?(?P<name>[A-Za-z_~][\w:~]*|operator\S+)\s*\(`), cFunc: true},
	}
	cSpec = &lineSpec{
		top: cTop,
		member: []rule{
			{kind: "type", re: re(`^(?:struct|union|class|enum(?:\s+class)?)\s+(?P<name>\w+)\s*(?:[:{].*)?$`), container: true, noSemicolon: true},
			{kind: "method", re: re(`^(?:(?:virtual|static|inline|explicit|constexpr|friend)\s+)*(?:[A-Za-z_][\w:<>,*&~ ]*?[\s*&]+)?(?P<name>~?[A-Za-z_]\w*|operator\S+)\s*\(`), cFunc: true},
		},
		lineComments: []string{cComment, "#include", "#if", "#endif", "#else", "#pragma", "#undef", "#elif"},
		blockStart:   "/*",
		blockEnd:     "*/",
		ignore:       re(`^(?:public|private|protected)\s*:`),
		trimSuffix:   []string{"{"},
	}

	rubySpec = &lineSpec{
		top: []rule{
			{kind: "module", re: re(`^(?:class|module)\s+(?P<name>[\w:]+)`), container: true},
			{kind: "def", re: re(`^def\s+(?P<name>(?:self\.)?[\w?!=\[\]<>+\-*/%]+)`)},
		},
		member: []rule{
			{kind: "module", re: re(`^(?:class|module)\s+(?P<name>[\w:]+)`), container: true},
			{kind: "def", re: re(`^def\s+(?P<name>(?:self\.)?[\w?!=\[\]<>+\-*/%]+)`)},
			{kind: "attr", re: re(`^attr_(?:reader|writer|accessor)\s+(?P<name>.+)`)},
		},
		lineComments: []string{"#"},
		blockStart:   "=begin",
		blockEnd:     "=end",
		maxDepth:     3,
	}

	phpSpec = &lineSpec{
		top: []rule{
			{kind: "namespace", re: re(`^namespace\s+(?P<name>[\w\\]+)`)},
			{kind: "type", re: re(`^(?:(?:abstract|final|readonly)\s+)*(?:class|interface|trait|enum)\s+(?P<name>\w+)`), container: true},
			{kind: "func", re: re(`^function\s+&?(?P<name>\w+)`)},
		},
		member: []rule{
			{kind: "method", re: re(`^(?:(?:public|private|protected|static|abstract|final)\s+)*function\s+&?(?P<name>\w+)`)},
			{kind: "const", re: re(`^(?:(?:public|private|protected|final)\s+)*const\s+(?P<name>\w+)`)},
		},
		lineComments: []string{cComment, "#", "<?php", "?>"},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"{"},
	}

	shellSpec = &lineSpec{
		top: []rule{
			{kind: "func", re: re(`^function\s+(?P<name>[\w:.-]+)`)},
			{kind: "func", re: re(`^(?P<name>[\w:.-]+)\s*\(\)`)},
		},
		lineComments: []string{"#"},
		trimSuffix:   []string{"{"},
	}

	sqlSpec = &lineSpec{
		top: []rule{
			{kind: "ddl", re: re(`(?i)^create\s+(?:or\s+replace\s+)?(?:unique\s+)?(?:materialized\s+)?(?:temp(?:orary)?\s+)?(?:table|view|function|procedure|index|type|trigger|sequence|schema|extension|policy)\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?(?P<name>[\w."]+)`)},
		},
		lineComments: []string{"--"},
		blockStart:   "/*",
		blockEnd:     "*/",
		trimSuffix:   []string{"(", "AS $$"},
	}

	markdownSpec = &lineSpec{
		top:    []rule{{kind: "heading", re: re(`^#{1,3}\s+(?P<name>.+)`)}},
		fences: true,
	}

	luaSpec = &lineSpec{
		top:          []rule{{kind: "func", re: re(`^(?:local\s+)?function\s+(?P<name>[\w.:]+)`)}},
		lineComments: []string{"--"},
	}

	elixirSpec = &lineSpec{
		top: []rule{{kind: "module", re: re(`^defmodule\s+(?P<name>[\w.]+)`), container: true}},
		member: []rule{
			{kind: "module", re: re(`^defmodule\s+(?P<name>[\w.]+)`), container: true},
			{kind: "def", re: re(`^(?:def|defp|defmacro|defmacrop|defstruct|defprotocol|defimpl)\b\s*(?P<name>[\w?!]*)`)},
		},
		lineComments: []string{"#"},
		trimSuffix:   []string{"do"},
		maxDepth:     3,
	}
)

// specs maps an extension to its recognizer.
var specs = map[string]*lineSpec{
	".py": pythonSpec, ".pyi": pythonSpec,
	".js": jsSpec, ".jsx": jsSpec, ".mjs": jsSpec, ".cjs": jsSpec, ".ts": jsSpec, ".tsx": jsSpec, ".mts": jsSpec, ".cts": jsSpec,
	".rs":   rustSpec,
	".java": javaSpec,
	".kt":   kotlinSpec, ".kts": kotlinSpec,
	".cs":    csharpSpec,
	".scala": scalaSpec, ".sc": scalaSpec,
	".swift": swiftSpec,
	".c":     cSpec, ".h": cSpec, ".cc": cSpec, ".cpp": cSpec, ".cxx": cSpec, ".hpp": cSpec, ".hh": cSpec, ".hxx": cSpec,
	".rb": rubySpec, ".rake": rubySpec,
	".php": phpSpec,
	".sh":  shellSpec, ".bash": shellSpec, ".zsh": shellSpec,
	".sql": sqlSpec,
	".md":  markdownSpec, ".markdown": markdownSpec,
	".lua": luaSpec,
	".ex":  elixirSpec, ".exs": elixirSpec,
}

func specFor(ext string) *lineSpec { return specs[ext] }
