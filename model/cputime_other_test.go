//go:build !unix

package model

import "time"

// cpuTime is not measured here: the CPU-time ratio is then not reported.
func cpuTime() time.Duration { return 0 }
