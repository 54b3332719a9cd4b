package editblocktest

import (
	"bytes"
	"fmt"
	"strings"
)

// The edit engine's benchmark workload, shared by internal/editblock's
// benchmarks and devbot bench edit, so both measure the same cases against
// the same floor.

// BenchFile is about size bytes of Python-like code: indented bodies, every
// line distinct. It returns the file and its number of lines.
func BenchFile(size int) (string, int) {
	var b strings.Builder
	n := 0
	for b.Len() < size {
		if n%8 == 0 {
			fmt.Fprintf(&b, "def handler_%06d(request, n):\n", n)
		} else {
			fmt.Fprintf(&b, "    value_%06d = compute(request, n * %d)\n", n, n)
		}
		n++
	}
	return b.String(), n
}

// BenchReply has blocks spread over a BenchFile's n lines, each replacing
// two body lines in the middle of its share of the file; outdent writes the
// SEARCH and REPLACE lines without their indentation (a whitespace-tolerant
// match); top puts the first block at the top of the file instead (line
// 4), where the floor finds it without reading the file. It returns the
// reply and its SEARCH texts.
func BenchReply(path string, n, blocks int, outdent, top bool) (string, [][]byte) {
	var r strings.Builder
	var searches [][]byte
	ind := "    "
	if outdent {
		ind = ""
	}
	for i := range blocks {
		k := ((2*i + 1) * n) / (2 * blocks)
		if top {
			k = (i*n)/blocks + 3
		}
		if k%8 == 0 || (k+1)%8 == 0 {
			k += 2
		}
		s := fmt.Sprintf("%svalue_%06d = compute(request, n * %d)\n%svalue_%06d = compute(request, n * %d)\n", ind, k, k, ind, k+1, k+1)
		searches = append(searches, []byte(s))
		fmt.Fprintf(&r, "%s\n```python\n<<<<<<< SEARCH\n%s=======\n%svalue_%06d = compute(request, n + %d)\n>>>>>>> REPLACE\n```\n\n", path, s, ind, k, k)
	}
	return r.String(), searches
}

// floorSink keeps the floor's work from being optimized away.
var floorSink int

// Floor is the least an edit engine can do: find every SEARCH text in each
// file with bytes.Index and copy each file once.
func Floor(files [][]byte, searches [][][]byte) {
	for i, f := range files {
		for _, s := range searches[i] {
			floorSink += bytes.Index(f, s)
		}
		out := make([]byte, len(f))
		floorSink += copy(out, f)
	}
}

// MultiFile is the multi-file case: 10 files of 100 KiB with 3 exact
// blocks each in one reply. It returns the files by path (an
// editblock.MapTree), the files and SEARCH texts for Floor, and the reply.
func MultiFile() (tree map[string][]byte, files [][]byte, searches [][][]byte, reply string) {
	tree = map[string][]byte{}
	var resp strings.Builder
	for i := range 10 {
		file, n := BenchFile(100 << 10)
		p := fmt.Sprintf("pkg/mod%d.py", i)
		tree[p] = []byte(file)
		r, s := BenchReply(p, n, 3, false, false)
		resp.WriteString(r)
		files, searches = append(files, tree[p]), append(searches, s)
	}
	return tree, files, searches, resp.String()
}
