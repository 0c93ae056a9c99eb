package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/cellpay/cellpay/router/client"
)

// steadyLoad runs transfers in every cell from clients of both regions
// and records, per cell, what was acknowledged and when writes succeeded.
type steadyLoad struct {
	t      testing.TB
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	acked     map[string]ackedTransfer // by transfer id
	unknown   int
	failures  []string // client-visible errors, with time and cell
	okTimes   map[uint64][]time.Time
	deposited int64
	accounts  []string
}

type ackedTransfer struct {
	from   string
	amount int64
}

// startLoad opens two accounts per cell and per region and keeps one
// transfer in flight per account pair until stop.
func startLoad(t testing.TB, c *Cluster) *steadyLoad {
	t.Helper()
	l := &steadyLoad{t: t, acked: map[string]ackedTransfer{}, okTimes: map[uint64][]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for _, region := range []string{"hangzhou", "shanghai"} {
		cl := newClient(t, c, region)
		f := openAccounts(t, c, cl, 2, "load-"+region, 1_000_000)
		for cellID, accts := range f.accts {
			l.deposited += 2 * 1_000_000
			l.accounts = append(l.accounts, accts...)
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					from, to := accts[i%2], accts[(i+1)%2]
					rec, err := cl.Transfer(ctx, from, to, 1+int64(i%7), "CNY")
					now := time.Now()
					var be *client.BusinessError
					switch {
					case err == nil:
						l.mu.Lock()
						l.acked[rec.GetTransferId()] = ackedTransfer{from: from, amount: rec.GetAmountMinor()}
						l.okTimes[cellID] = append(l.okTimes[cellID], now)
						l.mu.Unlock()
					case ctx.Err() != nil:
						return
					case errors.As(err, &be):
						l.mu.Lock()
						l.failures = append(l.failures, fmt.Sprintf("%s cell %d: business error %v", now.Format("15:04:05.000"), cellID, err))
						l.mu.Unlock()
					default:
						l.mu.Lock()
						if errors.Is(err, client.ErrOutcomeUnknown) {
							l.unknown++
						}
						l.failures = append(l.failures, fmt.Sprintf("%s cell %d: %v", now.Format("15:04:05.000"), cellID, err))
						l.mu.Unlock()
						time.Sleep(20 * time.Millisecond)
					}
				}
			}()
		}
	}
	return l
}

// stop ends the load and waits for it.
func (l *steadyLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// failureCount is how many client-visible errors were recorded so far.
func (l *steadyLoad) failureCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}

// failuresFrom returns the client-visible errors from the i-th on.
func (l *steadyLoad) failuresFrom(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failures[min(i, len(l.failures)):]...)
}

// firstOKAfter is the first acknowledged write of cellID at or after t.
func (l *steadyLoad) firstOKAfter(cellID uint64, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.okTimes[cellID] {
		if !at.Before(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// checkNothingLost checks every acknowledged transfer exists exactly as
// acknowledged, and that money is conserved.
func (l *steadyLoad) checkNothingLost(t *testing.T, cl *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l.mu.Lock()
	acked := make(map[string]ackedTransfer, len(l.acked))
	for id, amt := range l.acked {
		acked[id] = amt
	}
	accounts := append([]string(nil), l.accounts...)
	deposited := l.deposited
	l.mu.Unlock()
	// A transfer whose client gave up at stop may still apply between two
	// reads (both legs at once, but the accounts are read one by one): read
	// until two rounds agree, so the sum is of one state.
	var total int64
	var last map[string]int64
	for round := 0; round < 20; round++ {
		now := map[string]int64{}
		total = 0
		for _, a := range accounts {
			acct, err := cl.GetAccount(ctx, a)
			if err != nil {
				t.Fatalf("GetAccount %s: %v", a, err)
			}
			now[a] = acct.GetBalanceMinor()
			total += acct.GetBalanceMinor()
		}
		if maps.Equal(now, last) {
			break
		}
		last = now
		time.Sleep(200 * time.Millisecond)
	}
	if total != deposited {
		t.Errorf("money not conserved: balances sum to %d, deposits %d", total, deposited)
	}
	type job struct {
		id string
		a  ackedTransfer
	}
	jobs := make(chan job)
	var mu sync.Mutex
	lost := 0
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				rec, err := cl.GetTransfer(ctx, j.id, j.a.from)
				if err != nil || rec.GetAmountMinor() != j.a.amount {
					mu.Lock()
					lost++
					if lost <= 5 {
						t.Errorf("acknowledged transfer %s (%d from %s): %v %v", j.id, j.a.amount, j.a.from, rec, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for id, a := range acked {
		jobs <- job{id, a}
	}
	close(jobs)
	wg.Wait()
	if lost > 0 {
		t.Errorf("%d of %d acknowledged transfers lost", lost, len(acked))
	}
	t.Logf("checked %d acknowledged transfers (%d unknown outcomes); money conserved: %d", len(acked), l.unknown, total)
}
