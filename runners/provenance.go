package runners

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/results"
)

// provenance describes the code and the machine a record comes from. The
// VCS revision is in the build info when the binary was built from a
// checkout with -buildvcs (the Makefile's build does so).
func provenance() results.Provenance {
	p := machine()
	p.Time = time.Now().UTC().Format(time.RFC3339)
	return p
}

var machine = sync.OnceValue(func() results.Provenance {
	p := results.Provenance{Version: "(unknown)", Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPU: fmt.Sprintf("%s (%d CPUs)", cpuModel(), runtime.NumCPU()), BLAS: linalg.Backend()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		p.Version = bi.Main.Version
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" && modified == "true" {
			rev += "+dirty"
		}
		p.Revision = rev
	}
	if h, err := os.Hostname(); err == nil {
		p.Host = h
	}
	return p
})

// cpuModel reads the processor's name from /proc/cpuinfo (Linux), else
// the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
