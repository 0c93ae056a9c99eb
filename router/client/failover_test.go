package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// workload runs transfers from several goroutines until stopped and counts
// the operations that failed (none may).
type workload struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	ok       atomic.Int64
	failures chan error
}

func startWorkload(c *Client, workers int) *workload {
	w := &workload{stop: make(chan struct{}), failures: make(chan error, 1000)}
	for i := range workers {
		w.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-w.stop:
					return
				default:
				}
				_, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY",
					WithTransferID(fmt.Sprintf("w%d-%d", i, n)))
				if err != nil {
					select {
					case w.failures <- err:
					default:
					}
					continue
				}
				w.ok.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return w
}

func (w *workload) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	close(w.failures)
	for err := range w.failures {
		t.Errorf("failed operation: %v", err)
	}
}

// The own region's only router dies: traffic moves to the other region
// with no failed operation; when it comes back on the same address, the
// client returns to its region.
func TestRegionFailoverAndReturn(t *testing.T) {
	hz := startFake(t, nil)
	sh := startFake(t, nil)
	cfg := testConfig(map[string][]string{"hangzhou": {hz.addr}, "shanghai": {sh.addr}})
	cfg.Deadline, cfg.AttemptTimeout = 5*time.Second, 500*time.Millisecond
	c := newTestClient(t, cfg)
	if got := c.CurrentRegion(); got != "hangzhou" {
		t.Fatalf("CurrentRegion = %q before the cut", got)
	}

	w := startWorkload(c, 4)
	eventually(t, 5*time.Second, "hangzhou serves traffic", func() bool { return len(hz.received()) >= 20 })
	if n := len(sh.received()); n != 0 {
		t.Fatalf("shanghai got %d calls while hangzhou was healthy", n)
	}

	hz.stop()
	eventually(t, 5*time.Second, "shanghai takes the traffic", func() bool { return len(sh.received()) >= 50 })
	if got := c.CurrentRegion(); got != "shanghai" {
		t.Fatalf("CurrentRegion = %q with hangzhou down", got)
	}

	hzBefore := len(hz.received())
	hz.restart()
	eventually(t, 5*time.Second, "the client returns to hangzhou", func() bool { return c.CurrentRegion() == "hangzhou" })
	eventually(t, 5*time.Second, "hangzhou serves again", func() bool { return len(hz.received()) >= hzBefore+20 })
	w.finish(t)
	if w.ok.Load() == 0 {
		t.Fatal("no operation succeeded")
	}
}

// Other regions are tried in sorted order.
func TestFailoverRegionsInSortedOrder(t *testing.T) {
	bj := startFake(t, nil)
	sh := startFake(t, nil)
	cfg := testConfig(map[string][]string{"hangzhou": {deadAddr(t)}, "shanghai": {sh.addr}, "beijing": {bj.addr}})
	c := newTestClient(t, cfg)
	if _, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY"); err != nil {
		t.Fatal(err)
	}
	if got := c.CurrentRegion(); got != "beijing" {
		t.Fatalf("CurrentRegion = %q, want beijing (first other region in sorted order)", got)
	}
	if len(bj.received()) != 1 || len(sh.received()) != 0 {
		t.Fatalf("beijing %d calls, shanghai %d", len(bj.received()), len(sh.received()))
	}
}

// One dead router of two in the own region: the client stays in its
// region and uses the live one.
func TestOwnRegionPreferredWhileOneRouterLives(t *testing.T) {
	hz := startFake(t, nil)
	sh := startFake(t, nil)
	cfg := testConfig(map[string][]string{"hangzhou": {deadAddr(t), hz.addr}, "shanghai": {sh.addr}})
	c := newTestClient(t, cfg)
	for range 10 {
		if _, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY"); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.CurrentRegion(); got != "hangzhou" {
		t.Fatalf("CurrentRegion = %q", got)
	}
	if len(hz.received()) != 10 || len(sh.received()) != 0 {
		t.Fatalf("hangzhou %d calls, shanghai %d", len(hz.received()), len(sh.received()))
	}
}

// A NOT_LEADER (the router answered, with a reason) does not make the
// router unhealthy: the cell is the one without a leader.
func TestAnswersKeepRouterHealthy(t *testing.T) {
	hz := startFake(t, failFirst(3, cellpayError(codes.Unavailable, "NOT_LEADER", "", "no leader yet")))
	sh := startFake(t, nil)
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {hz.addr}, "shanghai": {sh.addr}}))
	if _, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY"); err != nil {
		t.Fatal(err)
	}
	if len(sh.received()) != 0 || c.CurrentRegion() != "hangzhou" {
		t.Fatalf("NOT_LEADER moved traffic: shanghai %d calls, region %q", len(sh.received()), c.CurrentRegion())
	}
}
