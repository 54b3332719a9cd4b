package editblock

// applySetBench applies a multi-file reply and returns how many files it
// changed (a seam, so the benchmark also runs on the one-file engine).
func applySetBench(tree MapTree, resp string) (int, error) {
	cs, err := ApplySet(tree, resp)
	return len(cs.Files), err
}
