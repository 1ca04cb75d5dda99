package runners

// SetAvailableMemory fakes sysmem.Available until the returned restore is
// called.
func SetAvailableMemory(bytes uint64, what string) (restore func()) {
	old := availableMemory
	availableMemory = func() (uint64, string) { return bytes, what }
	return func() { availableMemory = old }
}

// SetTempFree fakes the space free in os.TempDir until the returned restore
// is called.
func SetTempFree(bytes uint64) (restore func()) {
	old := tempFree
	tempFree = func() (uint64, bool) { return bytes, true }
	return func() { tempFree = old }
}
