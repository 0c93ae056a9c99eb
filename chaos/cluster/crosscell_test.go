package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/router/client"
)

// crossTransfer is one cross-cell transfer the test sent and what the
// client heard.
type crossTransfer struct {
	id, from, to string
	fromCell     uint64
	toCell       uint64
	acked        bool // the client got a record (IN_FLIGHT, COMPLETED or REVERSED)
	payeeMissing bool // sent to an account that does not exist: must reverse
}

// leaderReader reads a cell's totals and transfers from its leader's replica.
func leaderReader(t *testing.T, c *Cluster, cellID uint64) (cell.Totals, func(payer, id string) (*pb.TransferRecord, bool)) {
	t.Helper()
	n := c.Node(c.Leader(cellID))
	if n == nil {
		t.Fatalf("cell %d has no leader", cellID)
	}
	g, err := n.Host().Group(cellID)
	if err != nil {
		t.Fatal(err)
	}
	tot, err := cell.ReadTotals(g.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return tot, func(payer, id string) (*pb.TransferRecord, bool) {
		rec, err := cell.GetTransfer(g.Reader(), payer, id)
		return rec, err == nil
	}
}

// TestCrossCellTransfersThroughFiberCuts: transfers between cells homed in
// every site run while the fiber to hz-a is cut (payers and payees homed
// there) and after it heals. Every acknowledged transfer ends COMPLETED or
// REVERSED exactly once on the payer's side, a COMPLETED one is credited
// once on the payee's side, nothing unacknowledged is applied twice, and
// money is conserved in every cell and in total, nothing left in flight.
func TestCrossCellTransfersThroughFiberCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	cl := newClient(t, c, "hangzhou")
	const balance = 10_000
	f := openAccounts(t, c, cl, 3, "x", balance)
	var cells []uint64
	for id := range f.accts {
		cells = append(cells, id)
	}

	var mu sync.Mutex
	var sent []*crossTransfer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fromCell := cells[rng.IntN(len(cells))]
				toCell := cells[rng.IntN(len(cells))]
				if toCell == fromCell {
					continue
				}
				tr := &crossTransfer{id: fmt.Sprintf("xt-%d-%d", w, i), fromCell: fromCell, toCell: toCell}
				tr.from = f.accts[fromCell][rng.IntN(len(f.accts[fromCell]))]
				tr.to = f.accts[toCell][rng.IntN(len(f.accts[toCell]))]
				if i%10 == 0 { // Now and then a payee that does not exist in its cell.
					tr.to, tr.payeeMissing = accounts(c, toCell, 1, fmt.Sprintf("ghost-%d-%d", w, i))[0], true
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				rec, err := cl.Transfer(ctx, tr.from, tr.to, int64(1+rng.IntN(20)), "CNY", client.WithTransferID(tr.id))
				cancel()
				var unknown *client.UnknownOutcomeError
				switch {
				case err == nil:
					tr.acked = rec.GetTransferId() == tr.id
				case errors.As(err, &unknown):
				default:
					t.Errorf("transfer %s: %v", tr.id, err)
				}
				mu.Lock()
				sent = append(sent, tr)
				mu.Unlock()
			}
		}()
	}
	// Each phase lasts until traffic has run through it, not a fixed time.
	sentCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(sent)
	}
	moreSent := func(what string, n int) {
		t.Helper()
		from := sentCount()
		waitFor(t, 60*time.Second, what, func() (bool, string) {
			got := sentCount() - from
			return got >= n, fmt.Sprintf("%d of %d transfers sent", got, n)
		})
	}
	moreSent("transfers before the cut", 20)
	c.Fabric.Isolate("hz-a")
	hzA := cellsHomedIn(c, "hz-a")
	waitFor(t, 30*time.Second, "hz-a's cells to lead outside hz-a", func() (bool, string) {
		for _, id := range hzA {
			if l := c.Leader(id); l == "" || siteOf(c, l) == "hz-a" {
				return false, leaderMap(c)
			}
		}
		return true, ""
	})
	moreSent("transfers during the cut, after the failover", 10)
	c.Fabric.HealAll()
	moreSent("transfers after the repair", 20)
	close(stop)
	wg.Wait()

	// Quiet: every outbox drains (the relays of the new and old leaders).
	waitFor(t, 60*time.Second, "every outbox empty", func() (bool, string) {
		for _, id := range cells {
			if c.Leader(id) == "" {
				return false, fmt.Sprintf("cell %d has no leader", id)
			}
			if tot, _ := leaderReader(t, c, id); tot.Outbox != 0 {
				return false, fmt.Sprintf("cell %d: %d transfers in its outbox", id, tot.Outbox)
			}
		}
		return true, ""
	})

	var balances, deposited, sentTotal, received int64
	readers := map[uint64]func(string, string) (*pb.TransferRecord, bool){}
	for _, id := range cells {
		tot, read := leaderReader(t, c, id)
		readers[id] = read
		if ok, bad := tot.Conserved(); !ok {
			t.Errorf("cell %d: %v", id, bad)
		}
		balances += tot.Balances["CNY"]
		deposited += tot.Deposited["CNY"]
		sentTotal += tot.Sent["CNY"]
		received += tot.Received["CNY"]
		if tot.InFlight["CNY"] != 0 {
			t.Errorf("cell %d: %d still in flight with an empty outbox", id, tot.InFlight["CNY"])
		}
	}
	if balances != deposited || sentTotal != received {
		t.Errorf("in total: balances %d, deposited %d; sent %d, received %d; want both pairs equal", balances, deposited, sentTotal, received)
	}

	counts := map[string]int{}
	acked := 0
	for _, tr := range sent {
		payer, onPayer := readers[tr.fromCell](tr.from, tr.id)
		payee, onPayee := readers[tr.toCell](tr.from, tr.id)
		if tr.acked {
			acked++
			if !onPayer {
				t.Errorf("acknowledged transfer %s is lost: no record in its payer's cell %d", tr.id, tr.fromCell)
				continue
			}
		}
		if !onPayer {
			if onPayee {
				t.Errorf("transfer %s credited in cell %d but never debited in cell %d", tr.id, tr.toCell, tr.fromCell)
			}
			continue
		}
		counts[payer.GetState().String()]++
		switch payer.GetState() {
		case pb.TransferState_TRANSFER_STATE_COMPLETED:
			if !onPayee || payee.GetAmountMinor() != payer.GetAmountMinor() || tr.payeeMissing {
				t.Errorf("transfer %s COMPLETED at the payer, payee's record %v (payee missing: %v)", tr.id, payee, tr.payeeMissing)
			}
		case pb.TransferState_TRANSFER_STATE_REVERSED:
			if onPayee || !tr.payeeMissing {
				t.Errorf("transfer %s REVERSED at the payer, yet the payee's cell has %v (payee missing: %v)", tr.id, payee, tr.payeeMissing)
			}
		default:
			t.Errorf("transfer %s is still %s after the outboxes drained", tr.id, payer.GetState())
		}
	}
	t.Logf("%d cross-cell transfers sent, %d acknowledged, final states %v", len(sent), acked, counts)
	if counts[pb.TransferState_TRANSFER_STATE_COMPLETED.String()] == 0 || counts[pb.TransferState_TRANSFER_STATE_REVERSED.String()] == 0 {
		t.Errorf("want both completed and reversed transfers, got %v", counts)
	}
}
