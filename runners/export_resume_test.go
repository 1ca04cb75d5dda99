package runners

// SetStateHook makes every pruning run call f after the state of a block
// is committed (an error stops the run there, as a kill would) until the
// returned restore is called.
func SetStateHook(f func(block int) error) (restore func()) {
	old := stateHook
	stateHook = f
	return func() { stateHook = old }
}
