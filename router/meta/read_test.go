package meta

import (
	"fmt"
	"sync"
	"testing"
)

func TestReadTailsAtEverySize(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	const count = 12
	for i := range count {
		mustApply(t, g, auditCmd(int64(i), "alice", fmt.Sprint(i)))
		mustApply(t, g, eventCmd(int64(i), "decision", fmt.Sprint(i)))
	}
	for n := 1; n <= count+3; n++ {
		s := read(t, g, n, n)
		want := min(n, count)
		if len(s.Audit) != want || len(s.Events) != want {
			t.Fatalf("Read(%d, %d): %d events, %d audit entries; want %d each", n, n, len(s.Events), len(s.Audit), want)
		}
		for i := range want {
			seq := uint64(count - want + 1 + i) // The newest want, oldest first.
			if s.Audit[i].GetSeq() != seq || s.Events[i].GetSeq() != seq {
				t.Fatalf("Read(%d, %d)[%d]: event seq %d, audit seq %d; want %d", n, n, i, s.Events[i].GetSeq(), s.Audit[i].GetSeq(), seq)
			}
		}
	}
}

// TestReadDoesNotDecodeTheWholeAuditLog is the regression test of a status
// read that scanned and decoded every audit entry ever written (the audit
// log is never trimmed) to return the newest few: its cost, measured in
// allocations, must not grow with the log.
//
// Not parallel: AllocsPerRun counts the allocations of the whole process.
func TestReadDoesNotDecodeTheWholeAuditLog(t *testing.T) {
	g := newMetaTwin(t)
	allocs := func() float64 {
		return testing.AllocsPerRun(20, func() {
			if _, err := Read(g.Reader(), 0, 2); err != nil {
				t.Error(err)
			}
		})
	}
	for i := range 10 {
		mustApply(t, g, auditCmd(int64(i), "alice", fmt.Sprint(i)))
	}
	small := allocs()
	const workers, entries = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < entries; i += workers {
				if r := apply(t, g, auditCmd(int64(i), "bob", fmt.Sprint(i))); r.Err != nil {
					t.Errorf("audit %d: %v", i, r.Err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Decoding one entry allocates several times; 2000 more entries read
	// in full would cost thousands more allocations.
	large := allocs()
	t.Logf("Read(0, 2) allocates %.0f times over 10 audit entries, %.0f over %d", small, large, entries+10)
	if large > small+200 {
		t.Fatal("Read(0, 2) reads the whole audit log")
	}
}
