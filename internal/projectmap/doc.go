// Package projectmap gives the editor model the project as context, within a
// token budget: a map of every path with its size and, for source files, an
// outline of their top-level symbols; the full text of the files the
// instruction names and of those the user pinned; and the files a full-text
// search of the project finds relevant to the instruction.
//
// # Budget
//
// Tokens are estimated, not counted (no tokenizer of the model is at hand):
// see EstimateTokens. The parts are filled in a fixed priority order, named
// files, then pinned files, then relevant files by rank, then the map, and a
// file's text is never cut: a file that does not fit is listed as omitted,
// with its size. The map degrades in steps (outlines are dropped before
// paths) and ends with a line summarizing what it left out.
//
// # Relevance
//
// Search documents live in PostgreSQL (table file_search_docs, see
// internal/db/search.go): the path's words, the symbol names and the text,
// weighted in that order, with identifiers split (camelCase, snake_case) on
// both the document and the query side. IndexFile builds and stores a file's
// document; call it whenever a version of the file becomes current.
//
// # Outlines
//
// Go files are parsed with go/parser. Other languages use line-based
// recognizers of top-level definitions (and of members one level inside a
// class, impl or module), which cost a regular-expression match per line and
// need no cgo or grammar files. They can be fooled by unusual layouts; an
// outline is a hint for the model, never used to edit.
package projectmap
