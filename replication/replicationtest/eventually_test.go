package replicationtest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

// recorder is a testing.TB whose Fatalf records the message and stops the
// call, as t.Fatalf stops a test.
type recorder struct {
	testing.TB
	msg string
}

type stopped struct{}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func failure(wait func(tb testing.TB)) (msg string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stopped); !ok {
				panic(p)
			}
			msg = r.msg
		}
	}()
	wait(r)
	return ""
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	calls := 0
	took := replicationtest.Eventually(t, 5*time.Second, func() bool { calls++; return calls == 3 }, "the third call")
	if calls != 3 || took < 2*replicationtest.PollInterval {
		t.Fatalf("returned after %d calls, %s", calls, took)
	}
}

func TestEventuallyNamesWhatItAwaited(t *testing.T) {
	msg := failure(func(tb testing.TB) {
		replicationtest.Eventually(tb, 50*time.Millisecond, func() bool { return false }, "the moon")
	})
	if !strings.Contains(msg, "waiting for the moon") {
		t.Fatalf("failure message %q does not name what was awaited", msg)
	}
	msg = failure(func(tb testing.TB) {
		replicationtest.EventuallyNoError(tb, 50*time.Millisecond, func() error { return errors.New("still dark") }, "the sun")
	})
	if !strings.Contains(msg, "waiting for the sun: still dark") {
		t.Fatalf("failure message %q lacks the last error", msg)
	}
}
