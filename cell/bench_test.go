package cell

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// BenchmarkCellTransfer measures transfers per second through the Cell
// gRPC service of a cell with three replicas (three nodes, three sites, on
// loopback, fsync on), with 1, 64 and 512 concurrent clients calling the
// leader directly. Accounts may go negative, so every transfer succeeds.
func BenchmarkCellTransfer(b *testing.B) {
	for _, clients := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchTransfer(b, clients) })
	}
}

func benchTransfer(b *testing.B, clients int) {
	c := newTestCluster(b)
	ctx := context.Background()
	accts := c.accountsIn(1, 100, "bench")
	for _, id := range accts {
		err := c.route(ctx, 1, func(ctx context.Context, cl pb.CellClient) error {
			_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "c-" + id, AccountId: id, Currency: "CNY", AllowNegativeBalance: true}})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var leader pb.CellClient
	for i, n := range c.nodes {
		if g, err := n.Host().Group(1); err == nil && g.IsLeader() {
			leader = c.clients[i]
		}
	}
	if leader == nil {
		b.Fatal("no leader")
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := 0; p < clients; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				req := &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{
					TransferId: fmt.Sprintf("b%d", k), FromAccountId: accts[int(k)%len(accts)], ToAccountId: accts[int(k+1)%len(accts)],
					AmountMinor: 100, Currency: "CNY",
				}}
				callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				_, err := leader.Transfer(callCtx, req)
				lat[p] = append(lat[p], time.Since(t0))
				cancel()
				if err != nil {
					b.Errorf("transfer: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "transfers/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}
