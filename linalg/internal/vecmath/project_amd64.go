package vecmath

// AVX2 kernels (project_amd64.s) for ProjectSplit and AbsTo, used under
// exp_amd64.go's useAVX2.

//go:noescape
func projectSplitAVX2(v, b, c *float32, pruned *bool, n int)

//go:noescape
func absToAVX2(dst, src *float32, n int)

// The slices have one length (the callers reslice them).
func projectSplitSIMD(v, b, c []float32, pruned []bool) (done int) {
	if !useAVX2 || len(v) < 8 {
		return 0
	}
	n := len(v) &^ 7
	projectSplitAVX2(&v[0], &b[0], &c[0], &pruned[0], n)
	return n
}

func absToSIMD(dst, src []float32) (done int) {
	if !useAVX2 || len(src) < 8 {
		return 0
	}
	n := len(src) &^ 7
	absToAVX2(&dst[0], &src[0], n)
	return n
}
