//go:build !amd64

package vecmath

func projectSplitSIMD([]float32, []float32, []float32, []bool) int { return 0 }

func absToSIMD([]float32, []float32) int { return 0 }
