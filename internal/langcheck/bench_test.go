package langcheck

import (
	"sort"
	"testing"
)

// BenchmarkCheck checks the valid and invalid corpora: all files (mix),
// then each language's files on their own.
func BenchmarkCheck(b *testing.B) {
	files := corpus(b, "valid")
	for p, c := range corpus(b, "invalid") {
		files["invalid/"+p] = c
	}
	byLang := map[string][]string{}
	var all []string
	for p := range files {
		all = append(all, p)
		byLang[language(p)] = append(byLang[language(p)], p)
	}
	sort.Strings(all)
	run := func(b *testing.B, paths []string) {
		size := 0
		for _, p := range paths {
			size += len(files[p])
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range paths {
				Check(p, files[p])
			}
		}
	}
	b.Run("mix", func(b *testing.B) { run(b, all) })
	for _, l := range allLanguages {
		paths := byLang[l]
		sort.Strings(paths)
		b.Run(l, func(b *testing.B) { run(b, paths) })
	}
}
