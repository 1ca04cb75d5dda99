//go:build !amd64

package vecmath

func scanBracketSIMD([]float32, float32, float32, []float32) (int, int, int) { return 0, 0, 0 }

func maskBelowSIMD([]float32, float32, []bool) (int, int) { return 0, 0 }
