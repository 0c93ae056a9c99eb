//go:build !linux

package chaos

import (
	"fmt"
	"runtime"
)

// procs needs Linux's /proc to read a process's command line before it
// crashes it; elsewhere a remote target has no Crasher.
type procs struct{ dir string }

func newProcs(string) (*procs, error) {
	return nil, fmt.Errorf("chaos: crashing processes by pid file needs Linux's /proc (this is %s)", runtime.GOOS)
}

func (p *procs) crash(name, _, _ string) error {
	return fmt.Errorf("chaos: cannot crash %s here", name)
}

func (p *procs) restart(name string) error { return fmt.Errorf("chaos: cannot restart %s here", name) }
