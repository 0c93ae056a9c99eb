package report

import (
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

// sampleRun is a realistic, deterministic game day: 60 s of traffic, the
// fiber to hz-a cut from 15 s to 35 s, a dip in throughput with unknown
// outcomes while the three cells homed in hz-a fail over (~2 s each), one
// failed checker with evidence and one inconclusive.
func sampleRun() Run {
	start := time.Date(2025, 5, 27, 9, 0, 0, 0, time.UTC).UnixNano()
	at := func(offsetS float64) int64 { return start + int64(offsetS*1e9) }
	r := Run{
		Scenario: "fiber-cut",
		Seed:     42,
		StartNs:  start,
		EndNs:    at(60),
		Notes: []string{
			"3 sites (hz-a, hz-b, hz-c) × 3 nodes; 9 cells, homed in hz-a: 1, 4, 7",
			"workload: 16 clients, 1200 accounts, transfers 45%, reads 35%, deposits 20%",
		},
	}
	for i := range 60 {
		noise := (i*37)%19 - 9 // deterministic wobble in -9..9
		s := history.Second{Offset: i, OK: 2100 + 6*noise, Fail: 3 + (i % 3), P50Ms: 4 + float64(noise)/10, P99Ms: 18 + float64(noise)/2}
		switch {
		case i == 15:
			s.OK, s.Unknown, s.P99Ms = 690, 48, 2400
		case i == 16:
			s.OK, s.Unknown, s.P99Ms = 820, 31, 2150
		case i == 17:
			s.OK, s.Unknown, s.P99Ms = 1350, 12, 1310
		case i == 18:
			s.OK, s.Unknown, s.P99Ms = 1950, 3, 140
		case i > 18 && i < 35:
			// The failed-over cells now commit across sites.
			s.OK -= 60
			s.P99Ms += 16
			if i == 22 {
				s.Unknown = 1
			}
		}
		r.Seconds = append(r.Seconds, s)
		r.Ops.OK += s.OK
		r.Ops.Fail += s.Fail
		r.Ops.Unknown += s.Unknown
	}
	r.Ops.Pending = 2
	r.Ops.Total = r.Ops.OK + r.Ops.Fail + r.Ops.Unknown + r.Ops.Pending
	r.Ops.ByKind = map[string]int{"create": 1200}
	rest := r.Ops.Total - 1200
	r.Ops.ByKind["read"] = rest * 35 / 100
	r.Ops.ByKind["deposit"] = rest * 20 / 100
	r.Ops.ByKind["transfer"] = rest - r.Ops.ByKind["read"] - r.Ops.ByKind["deposit"]

	for _, f := range []struct {
		cell  uint64
		to    string
		endS  float64
		nodes string
	}{{4, "hz-c", 16.85, "hz-c/n8"}, {1, "hz-b", 17.05, "hz-b/n4"}, {7, "hz-b", 17.40, "hz-b/n5"}} {
		r.Failovers = append(r.Failovers, history.Failover{
			Cell: f.cell, FromSite: "hz-a", ToSite: f.to, StartNs: at(15), EndNs: at(f.endS), Seconds: f.endS - 15,
		})
		r.Events = append(r.Events, history.Event{At: at(f.endS), Kind: history.EventLeader, Detail: "leader " + f.nodes + " (term 3)", Cell: f.cell, Site: f.to})
	}
	r.Events = append(r.Events,
		history.Event{At: at(0), Kind: history.EventPhase, Detail: "warm-up"},
		history.Event{At: at(10), Kind: history.EventPhase, Detail: "steady"},
		history.Event{At: at(15), Kind: history.EventFaultStart, Detail: "cut fiber hz-a", Site: "hz-a"},
		history.Event{At: at(35), Kind: history.EventFaultEnd, Detail: "cut fiber hz-a", Site: "hz-a"},
		history.Event{At: at(35), Kind: history.EventPhase, Detail: "heal"},
		history.Event{At: at(50), Kind: history.EventPhase, Detail: "reconcile"},
	)

	r.Results = []history.CheckResult{
		{Name: "conservation", Pass: true, Summary: "money conserved: deposited 18420000 = held 18420000 across 1200 accounts"},
		{Name: "acknowledged-durable", Pass: true, Summary: "all 118236 acknowledged operations are in the final state (RPO = 0)"},
		{Name: "no-double-payout", Pass: false, Summary: "2 transfers executed twice under one idempotency key", Evidence: []string{
			"transfer t-18877 (acct-0042 → acct-0913, 2500): applied in cell 1 at index 40211 and 40377",
			"  first: op 61234 process 7 invoked 15.02s, unknown (context deadline exceeded)",
			"  retry: op 61988 process 7 invoked 17.31s, ok",
			"transfer t-19004 (acct-0310 → acct-0007, 12000): applied in cell 7 at index 39120 and 39502",
			"  first: op 61301 process 12 invoked 15.04s, unknown (connection reset by peer)",
			"  retry: op 62040 process 12 invoked 17.52s, ok",
			"payees over-credited by 14500 in total",
		}},
		{Name: "unknown-resolved", Pass: true, Summary: "95 unknown outcomes resolved by key: 61 applied, 34 not applied"},
		{Name: "replica-agreement", Pass: true, Summary: "9 cells × 3 replicas agree on applied index and digest"},
		{Name: "linearizable-reads", Inconclusive: true, Summary: "search exceeded 30s over 412 reads of acct-0042; not decided", Evidence: []string{
			"cell 4: 412 reads, 38 concurrent transfers; search budget 30s spent",
		}},
	}
	return r
}
