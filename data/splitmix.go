package data

// SplitMix64 is the generator of the `random` calibration mode
// (EVALUATION.md §2.2): simple, seedable with any 64-bit value, and easy to
// reproduce in other languages.
type SplitMix64 struct {
	state uint64
}

// NewSplitMix64 returns a generator whose state is seed.
func NewSplitMix64(seed uint64) *SplitMix64 {
	return &SplitMix64{state: seed}
}

// Next returns the next output; arithmetic wraps mod 2⁶⁴.
func (s *SplitMix64) Next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
