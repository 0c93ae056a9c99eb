package cluster

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkFiberCutRTO repeats a fiber cut of hz-a under a steady load:
// each iteration cuts every link to and from hz-a (clients' too), waits
// until every cell homed there has written again, heals, and waits for
// the failback. It reports the RTO (cut -> first successful write) per
// cell, p50 and p99 over every cell and cut, and the client-visible
// errors. Run: go test -run '^$' -bench FiberCutRTO -benchtime 5x ./chaos/cluster/
func BenchmarkFiberCutRTO(b *testing.B) {
	c := startFailoverCluster(b, time.Second)
	load := startLoad(b, c)
	defer load.stop()
	hzA := cellsHomedIn(c, "hz-a")
	var rtos []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Second)
		cut := time.Now()
		c.Fabric.Isolate("hz-a")
		c.Fabric.CutIngress("hz-a")
		waitFor(b, 30*time.Second, "hz-a's cells write again", func() (bool, string) {
			for _, id := range hzA {
				if l := c.Leader(id); l == "" || siteOf(c, l) == "hz-a" {
					return false, leaderMap(c)
				}
				if _, ok := load.firstOKAfter(id, cut); !ok {
					return false, "no write yet"
				}
			}
			return true, ""
		})
		for _, id := range hzA {
			at, _ := load.firstOKAfter(id, cut)
			rtos = append(rtos, at.Sub(cut))
		}
		c.Fabric.HealAll()
		waitFor(b, 60*time.Second, "failback", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	}
	b.StopTimer()
	sort.Slice(rtos, func(i, j int) bool { return rtos[i] < rtos[j] })
	pct := func(p float64) time.Duration { return rtos[min(len(rtos)-1, int(p*float64(len(rtos))))] }
	b.ReportMetric(float64(pct(0.50).Milliseconds()), "rto-p50-ms")
	b.ReportMetric(float64(pct(0.99).Milliseconds()), "rto-p99-ms")
	b.ReportMetric(float64(rtos[len(rtos)-1].Milliseconds()), "rto-max-ms")
	b.ReportMetric(float64(load.failureCount()), "client-errors")
	b.Logf("RTO samples: %v", rtos)
}
