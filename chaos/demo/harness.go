package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/router/client"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/meta"
)

// startCluster starts the demo's cluster: the default three sites,
// emulated RTTs, the demo's shape and hold-down, and operators (nil: none,
// drills refused).
func startCluster(cfg Config, operators map[string]string) (*cluster.Cluster, error) {
	return cluster.Start(cluster.Config{
		Dir: cfg.DataDir, Seed: cfg.Seed, Sites: sites, NodesPerSite: cfg.NodesPerSite, Cells: cfg.Cells,
		EmulateRTT: true, Logger: cfg.Logger,
		Control: func(cc *control.ControlConfig) {
			cc.Failover.HoldDown = cfg.HoldDown
			cc.Operators = operators
		},
	})
}

// awayCells counts the cells of c that lead away from their home site or
// have no leader.
func awayCells(c *cluster.Cluster) int {
	away := 0
	for _, cl := range c.Topology.Cells() {
		n, ok := c.Topology.Node(c.Leader(cl.ID))
		if !ok || n.Site != cl.Home {
			away++
		}
	}
	return away
}

// homeWatch polls where the cells lead and remembers the last time they
// all came home after some were away: when the failback ended.
type homeWatch struct {
	c       *cluster.Cluster
	mu      sync.Mutex
	homeAt  time.Time // zero: never came home after being away
	awayNow bool
	stop    chan struct{}
	done    chan struct{}
}

// homeWatchInterval is how often homeWatch looks.
const homeWatchInterval = 100 * time.Millisecond

func watchHome(c *cluster.Cluster) *homeWatch {
	w := &homeWatch{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(homeWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-t.C:
				w.look(now)
			}
		}
	}()
	return w
}

// look notes where the cells lead now.
func (w *homeWatch) look(now time.Time) {
	away := awayCells(w.c) > 0
	w.mu.Lock()
	defer w.mu.Unlock()
	if !away && w.awayNow {
		w.homeAt = now
	}
	w.awayNow = away
}

// close stops the watch, looks a last time, and returns the last time
// every cell came home (zero if none), and whether cells are away now.
func (w *homeWatch) close() (homeAt time.Time, awayNow bool) {
	close(w.stop)
	<-w.done
	w.look(time.Now())
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.homeAt, w.awayNow
}

// waitHome waits until every cell of c leads at home, at most bound.
func waitHome(ctx context.Context, c *cluster.Cluster, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	for awayCells(c) > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(homeWatchInterval):
		}
	}
	return true
}

// metaStatusTimeout bounds the ask of one meta voter.
const metaStatusTimeout = 2 * time.Second

// metaEvents asks the meta voters, dialed directly, for the failover
// controller's events (the newest 1000), preferring the meta leader's
// answer.
func metaEvents(ctx context.Context, c *cluster.Cluster) ([]*pb.MetaEvent, error) {
	mc, err := meta.NewClient(meta.ClientConfig{Topology: c.Topology, CallTimeout: metaStatusTimeout, TLS: c.As(auth.RoleOperator).ClientTLS()})
	if err != nil {
		return nil, err
	}
	defer mc.Close()
	ms, err := mc.Status(ctx, &pb.MetaStatusRequest{EventsMax: 1000})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return ms.GetEvents(), nil
}

// Payouts the story makes after the traffic, one per cell, so that the
// reconciliation has payouts to match against the banks' statements. (Not
// during the traffic: the chaos checkers count every deposit of a cell as
// the workload's money.)
const (
	payoutFundingMinor = 100_000
	payoutAmountMinor  = 2_500
	payoutTimeout      = 20 * time.Second
	// accountSearchMax bounds the search for an account id in a cell (see
	// chaos/workload.go: with 4096 slots, never reached in practice).
	accountSearchMax = 1_000_000
)

// payoutTally is what the payouts came to, by state.
type payoutTally struct {
	made   int            // answered (any state)
	states map[string]int // "succeeded", "pending", ...
	errs   []error
}

// makePayouts opens and funds one account per cell and pays part of it
// out through the simulated banks, all cells at once.
func makePayouts(ctx context.Context, c *cluster.Cluster) payoutTally {
	out := payoutTally{states: map[string]int{}}
	region := c.Topology.Sites()[0].Region
	cl, err := client.New(client.Config{Region: region, Routers: c.RouterAddrs(), Dialer: c.ClientDialer(region), Deadline: payoutTimeout,
		TLS: c.As(auth.RoleClient).ClientTLS()})
	if err != nil {
		out.errs = append(out.errs, err)
		return out
	}
	defer cl.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cell := range c.Topology.Cells() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state, err := payout(ctx, c, cl, cell.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.errs = append(out.errs, fmt.Errorf("cell %d: %w", cell.ID, err))
				return
			}
			out.made++
			out.states[state]++
		}()
	}
	wg.Wait()
	return out
}

// payout makes the payout of one cell and returns its state ("succeeded").
func payout(ctx context.Context, c *cluster.Cluster, cl *client.Client, cellID uint64) (string, error) {
	account := ""
	for i := 0; account == ""; i++ {
		if i >= accountSearchMax {
			return "", fmt.Errorf("demo: no account id found in cell %d", cellID)
		}
		id := fmt.Sprintf("payee-%d-%d", cellID, i)
		if owner, ok := c.Topology.CellOfAccount(id); ok && owner.ID == cellID {
			account = id
		}
	}
	if _, err := cl.CreateAccount(ctx, account, "CNY", client.WithIdempotencyKey("demo-open-"+account)); err != nil {
		return "", err
	}
	if _, err := cl.Deposit(ctx, account, payoutFundingMinor, "CNY", "demo", client.WithIdempotencyKey("demo-fund-"+account)); err != nil {
		return "", err
	}
	rec, err := cl.Payout(ctx, account, payoutAmountMinor, "CNY", client.WithPayoutID("demo-payout-"+account))
	if err != nil {
		return "", err
	}
	return stateWord(rec.GetState()), nil
}

// stateWord is "succeeded" for PAYOUT_STATE_SUCCEEDED.
func stateWord(s pb.PayoutState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PAYOUT_STATE_"))
}
