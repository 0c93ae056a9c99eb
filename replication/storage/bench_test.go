package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogs measures synced appends (one fsync per call) of
// 256-byte entries in batches of 1, 16 and 256, as a follower or leader
// appends them.
func BenchmarkStoreLogs(b *testing.B) {
	const dataBytes = 256
	for _, batchSize := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) {
			store := openTestDB(b, "").Group(1)
			data := make([]byte, dataBytes)
			logs := make([]*raft.Log, batchSize)
			for i := range logs {
				logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
			}
			b.SetBytes(int64(batchSize * dataBytes))
			next := uint64(1)
			calls := 0
			for b.Loop() {
				for _, l := range logs {
					l.Index = next
					next++
				}
				if err := store.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				calls++
			}
			b.ReportMetric(float64(calls*batchSize)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
