package runners

// SetAvailableMemory fakes sysmem.Available until the returned restore is
// called.
func SetAvailableMemory(bytes uint64, what string) (restore func()) {
	old := availableMemory
	availableMemory = func() (uint64, string) { return bytes, what }
	return func() { availableMemory = old }
}
