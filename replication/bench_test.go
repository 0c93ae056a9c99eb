package replication

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSM stores each command under a key derived from its index: the
// cheapest deterministic apply, so the benchmark measures replication.
type benchSM struct{}

func (benchSM) Apply(tx *Tx, e Entry) any {
	tx.Set(fmt.Appendf(nil, "v/%020d", e.Index), e.Data)
	return nil
}
func (benchSM) Restored(uint64) {}

// BenchmarkReplicatedApply measures applied commands per second and the
// latency of one Apply (proposal to applied on the leader), for three nodes
// in three sites, 256-byte values, fsync on, with 1 or 16 groups, 1, 100 or
// 1000 concurrent proposers, and 0 or 20 ms of emulated inter-site RTT.
func BenchmarkReplicatedApply(b *testing.B) {
	for _, rtt := range []time.Duration{0, 20 * time.Millisecond} {
		for _, groups := range []int{1, 16} {
			for _, proposers := range []int{1, 100, 1000} {
				name := fmt.Sprintf("rtt=%s/groups=%d/proposers=%d", rtt, groups, proposers)
				b.Run(name, func(b *testing.B) { benchApply(b, rtt, groups, proposers) })
			}
		}
	}
}

func benchApply(b *testing.B, rtt time.Duration, groups, proposers int) {
	ids := make([]uint64, groups)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	c := newBenchCluster(b, ids, rtt)
	leaders := make([]*Group, groups)
	for i, g := range ids {
		leaders[i] = c.group(c.leader(g, nil), g)
	}
	value := make([]byte, 256)
	var next atomic.Int64
	latencies := make([][]time.Duration, proposers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := 0; p < proposers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				g := leaders[int(k)%groups]
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				_, err := g.Apply(ctx, value)
				latencies[p] = append(latencies[p], time.Since(t0))
				cancel()
				if err != nil {
					b.Errorf("apply: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "applies/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// newBenchCluster is a three-site cluster with a one-way delay of rtt/2 on
// every inter-site link.
func newBenchCluster(b *testing.B, groups []uint64, rtt time.Duration) *testCluster {
	c := newTestClusterWith(b, 3, groups, func(cfg *Config) {
		cfg.InterSiteRTT = max(rtt, time.Millisecond)
		cfg.HeartbeatIntervalMin = 50 * time.Millisecond
		cfg.Storage.CacheSizeBytes = 64 << 20
		cfg.Storage.MemTableSizeBytes = 32 << 20
		if rtt == 0 {
			cfg.Dialer = nil // plain TCP: no user-space hops when there is no delay to emulate
		}
	}, func() StateMachine { return benchSM{} })
	for i := range sites[:3] {
		for j := range sites[:3] {
			if i < j {
				c.fab.SetDelay(sites[i], sites[j], rtt/2, 0)
			}
		}
	}
	return c
}
