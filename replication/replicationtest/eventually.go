package replicationtest

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition: short enough
// not to slow a test down, long enough not to spin a core.
const PollInterval = 20 * time.Millisecond

// Eventually waits until cond returns true, checking at once and then
// every PollInterval, and returns how long that took. If cond is still
// false after timeout, it fails t (t.Fatalf) with what was awaited. Call it
// from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) time.Duration {
	t.Helper()
	return EventuallyNoError(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}, what)
}

// EventuallyNoError is Eventually for a check that says why it does not
// hold yet: it waits until check returns nil, and the failure message
// carries the last error.
func EventuallyNoError(t testing.TB, timeout time.Duration, check func() error, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			if err == errNotYet {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			} else {
				t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			}
			return time.Since(start)
		}
		time.Sleep(PollInterval)
	}
}

// errNotYet is the error of a plain condition that is still false.
var errNotYet = notYet{}

type notYet struct{}

func (notYet) Error() string { return "condition still false" }
