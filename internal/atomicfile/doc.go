// Package atomicfile writes output files and directories so that they appear
// complete or not at all: everything goes to a hidden temporary sibling,
// which is synced and renamed into place only when finished, and removed on
// any failure.
//
// Every temporary that exists is registered, so that a process told to exit
// at once (a second Ctrl-C) can remove them with RemoveTemps before it
// exits: no run leaves a hidden temporary behind.
//
// Finished files get the usual permissions, 0666 and directories 0777, less
// the process umask (os.CreateTemp and os.MkdirTemp would leave 0600/0700).
package atomicfile
