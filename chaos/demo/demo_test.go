package demo

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/report"
)

// testTopology: the demo's three sites, one node each, two cells (cell 1
// homed in hz-a, cell 2 in hz-b), slots split in half.
func testTopology(t *testing.T) *topology.Topology {
	t.Helper()
	spec := topology.Spec{Environment: "test", Sites: sites}
	spec.RTTs = []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond}, {A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}}
	for i, s := range sites {
		spec.Nodes = append(spec.Nodes, topology.Node{ID: s.ID + "-1", Site: s.ID, RaftAddr: "127.0.0.1:" + string(rune('1'+i)) + "000", ClientAddr: "127.0.0.1:" + string(rune('1'+i)) + "001"})
	}
	replicas := []string{"hz-a-1", "hz-b-1", "sh-a-1"}
	spec.Cells = []topology.Cell{
		{ID: 1, Home: "hz-a", Replicas: replicas, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots/2 - 1}}},
		{ID: 2, Home: "hz-b", Replicas: replicas, Slots: []topology.SlotRange{{First: topology.Slots / 2, Last: topology.Slots - 1}}},
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// accountIn finds an account id of the cell.
func accountIn(t *testing.T, topo *topology.Topology, cellID uint64, prefix string) string {
	t.Helper()
	for i := 0; i < 100_000; i++ {
		id := prefix + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if c, ok := topo.CellOfAccount(id); ok && c.ID == cellID {
			return id
		}
	}
	t.Fatalf("no account in cell %d", cellID)
	return ""
}

func TestTallyOps(t *testing.T) {
	topo := testTopology(t)
	a1, b1, a2 := accountIn(t, topo, 1, "a"), accountIn(t, topo, 1, "b"), accountIn(t, topo, 2, "c")
	ops := []history.Op{
		{Process: -1, Kind: history.KindCreate, Account: a1, Outcome: history.OutcomeOK},
		{Process: -1, Kind: history.KindDeposit, Account: a1, Outcome: history.OutcomeOK},
		{Kind: history.KindTransfer, Account: a1, To: b1, Outcome: history.OutcomeOK},
		{Kind: history.KindTransfer, Account: a1, To: a2, Outcome: history.OutcomeOK},
		{Kind: history.KindTransfer, Account: a1, To: a2, Outcome: history.OutcomeFail, Reason: "INSUFFICIENT_FUNDS"},
		{Kind: history.KindTransfer, Account: a1, To: a2, Outcome: history.OutcomeFail, Reason: unavailablePrefix + " no router"},
		{Kind: history.KindDeposit, Account: a2, Outcome: history.OutcomeUnknown},
		{Kind: history.KindDeposit, Account: a2, Outcome: history.OutcomeOK},
		{Kind: history.KindRead, Account: a2, Outcome: history.OutcomeOK},
		{Kind: history.KindRead, Account: a2, Outcome: history.OutcomeFail, Reason: "deadline"},
		{Kind: history.KindTransfer, Account: a2, To: a1},
	}
	got := tallyOps(ops, topo)
	want := tally{completed: 10, transfers: 2, crossCell: 1, deposits: 1, reads: 1, setup: 2, accounts: 1, rejected: 1, unknown: 1, pending: 1, unavailable: 1, readsFailed: 1}
	if got != want {
		t.Fatalf("tally\n got %+v\nwant %+v", got, want)
	}
	if got.clientErrors() != 3 {
		t.Fatalf("client errors %d, want 3 (unknown, unavailable, failed read; pending is in flight)", got.clientErrors())
	}
	if sum := got.plus(got); sum.transfers != 4 || sum.readsFailed != 2 {
		t.Fatalf("plus: %+v", sum)
	}
}

// The clients' RTO of a cell led in the faulted site is the first write
// invoked after the fault and acknowledged; cells led elsewhere, reads,
// failed writes and writes invoked before the fault do not count.
func TestClientRTOs(t *testing.T) {
	topo := testTopology(t)
	a1, a2 := accountIn(t, topo, 1, "a"), accountIn(t, topo, 2, "c")
	const s = int64(time.Second)
	f := fault{site: "hz-a", startNs: 10 * s, repairNs: 20 * s}
	events := []history.Event{
		{At: 1 * s, Kind: history.EventLeader, Cell: 1, Site: "hz-a"},
		{At: 1 * s, Kind: history.EventLeader, Cell: 2, Site: "hz-b"},
		{At: 12 * s, Kind: history.EventLeader, Cell: 1, Site: "hz-b"},
	}
	ops := []history.Op{
		{Kind: history.KindTransfer, Account: a1, Invoke: 9 * s, Done: 10*s + s/10, Outcome: history.OutcomeOK}, // invoked before
		{Kind: history.KindRead, Account: a1, Invoke: 10 * s, Done: 11 * s, Outcome: history.OutcomeOK},         // a read
		{Kind: history.KindDeposit, Account: a1, Invoke: 10 * s, Done: 11 * s, Outcome: history.OutcomeUnknown}, // not acknowledged
		{Kind: history.KindDeposit, Account: a1, Invoke: 11 * s, Done: 13 * s, Outcome: history.OutcomeOK},
		{Kind: history.KindTransfer, Account: a1, Invoke: 10 * s, Done: 12*s + s/2, Outcome: history.OutcomeOK}, // the first
		{Kind: history.KindDeposit, Account: a2, Invoke: 10 * s, Done: 10*s + s/100, Outcome: history.OutcomeOK},
	}
	got := clientRTOs(ops, events, f, topo)
	if len(got) != 1 || got[0].cell != 1 || got[0].seconds != 2.5 {
		t.Fatalf("RTOs %+v, want cell 1 2.5s only", got)
	}
}

func TestControllerRTOs(t *testing.T) {
	f := fault{site: "hz-a", startNs: 10_000 * int64(time.Millisecond)}
	events := []*pb.MetaEvent{
		{Kind: "first_write", CellId: 4, Reason: "site hz-a suspected", AtUnixMs: 13_000},
		{Kind: "first_write", CellId: 1, Reason: "site hz-a suspected", AtUnixMs: 12_500},
		{Kind: "first_write", CellId: 1, Reason: "site hz-a suspected", AtUnixMs: 14_000}, // a later one
		{Kind: "first_write", CellId: 2, Reason: "leader moved to hz-b-1", AtUnixMs: 12_000},
		{Kind: "first_write", CellId: 3, Reason: "site hz-a suspected", AtUnixMs: 9_000}, // before the fault
		{Kind: "leader_moved", CellId: 5, AtUnixMs: 12_000},
	}
	got := controllerRTOs(events, f)
	if len(got) != 2 || got[0] != (cellRTO{cell: 1, seconds: 2.5}) || got[1] != (cellRTO{cell: 4, seconds: 3}) {
		t.Fatalf("controller RTOs %+v, want cell 1 2.5s and cell 4 3s", got)
	}
}

func TestPercentileAndGrouped(t *testing.T) {
	v := []float64{4, 1, 3, 2}
	if p := percentile(v, 0.5); p != 2 {
		t.Errorf("p50 %v, want 2", p)
	}
	if p := percentile(v, 0.99); p != 4 {
		t.Errorf("p99 %v, want 4", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing %v", p)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := grouped(n); got != want {
			t.Errorf("grouped(%d) = %q, want %q", n, got, want)
		}
	}
}

func passing(names ...string) []history.CheckResult {
	var out []history.CheckResult
	for _, n := range names {
		out = append(out, history.CheckResult{Name: n, Pass: true, Summary: n + " fine"})
	}
	return out
}

func TestSummaryPass(t *testing.T) {
	s := summary{
		pass: true,
		run: report.Run{Results: append(passing("conservation", "no-lost-writes", "replicas-agree", "linearizable-reads", "availability"),
			history.CheckResult{Name: NameReconciliation, Pass: true, Summary: "all clear"})},
		ops:      tally{transfers: 12345, crossCell: 2000, deposits: 1500, reads: 3000, accounts: 48},
		payouts:  payoutTally{made: 12},
		fault:    fault{site: "hz-a", startNs: 10e9, repairNs: 20e9},
		hasFault: true,
		rtos:     []cellRTO{{1, 2.1}, {4, 2.5}, {7, 1.9}, {10, 3.2}},
		homeAt:   time.Unix(0, 28_500_000_000),
		holdDown: 6 * time.Second,
		recon:    reconcile.Report{AllClear: true, Covered: reconcile.Coverage{Cells: make([]uint64, 12), Duration: 750 * time.Millisecond}},
		files:    []string{"/d/report.html", "/d/report.json"},
		logPath:  "/d/demo.log",
		elapsed:  83 * time.Second,
	}
	s.run.Results[0].Summary = "balances sum to the 48308411 deposited (48308411 acknowledged + 0 of 0 uncertain)"
	var b bytes.Buffer
	if err := s.write(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"PASS  every check passed and the reconciliation is all clear\n",
		"payments  12,345 transfers (2,000 cross-cell) · 1,500 deposits · 12 payouts\n",
		"          and 3,000 balance reads, after 48 accounts were opened and funded\n",
		"errors    0 client-visible errors\n",
		"RTO       p50 2.1s · p99 3.2s for hz-a's 4 cells\n",
		"          cell 1 2.1s · cell 4 2.5s · cell 7 1.9s · cell 10 3.2s\n",
		"          (from the fault to the cell's first acknowledged write)\n",
		"failback  every cell home 8.5s after the repair (hold-down 6s, default 10s)\n",
		"money     conserved: yes, balances sum to the 48,308,411 deposited\n",
		"checks    ✓ conservation   ✓ no-lost-writes   ✓ replicas-agree\n",
		"          ✓ linearizable-reads   ✓ availability   ✓ reconciliation\n",
		"reconcile all clear: 12 cells, replicas agree, 12 payouts match the banks\n",
		"report    /d/report.html\n          /d/report.json\n",
		"log       /d/demo.log\n",
		"took      1m23s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if n := len([]rune(l)); n > lineRunesMax {
			t.Errorf("line of %d runes (at most %d): %q", n, lineRunesMax, l)
		}
	}
}

// A failed story names what failed, with evidence, and the errors.
func TestSummaryFail(t *testing.T) {
	res := passing("conservation", "no-lost-writes", "availability")
	res[2] = history.CheckResult{Name: "availability", Summary: "2 client-visible errors (max 0)", Evidence: []string{"op 7 transfer: unknown", "op 9 deposit: unknown", "third", "fourth"}}
	res = append(res, history.CheckResult{Name: NameReconciliation, Inconclusive: true, Summary: "could not reconcile: boom"})
	s := summary{
		run:       report.Run{Results: res},
		ops:       tally{unknown: 2, pending: 1},
		fault:     fault{site: "hz-a", startNs: 1, repairNs: 2},
		hasFault:  true,
		awayAtEnd: 2,
		holdDown:  6 * time.Second,
		reconErr:  errors.New("boom"),
	}
	var b bytes.Buffer
	if err := s.write(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"FAIL  availability failed, reconciliation inconclusive\n",
		"errors    3 client-visible: 2 unknown outcomes, 1 unanswered\n",
		"RTO       no write reached a cell hz-a led after the fault\n",
		"failback  2 cells still away from home at the end (hold-down 6s)\n",
		"✗ availability: 2 client-visible errors (max 0)\n",
		"    op 7 transfer: unknown\n", "    third\n",
		"? reconciliation: could not reconcile: boom\n",
		"reconcile incomplete: boom\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "fourth") {
		t.Errorf("more than %d evidence lines:\n%s", summaryEvidenceLinesMax, got)
	}
}

func TestReconcileResult(t *testing.T) {
	clear := reconcileResult(reconcile.NewReport(reconcile.Coverage{Cells: []uint64{1, 2}}, nil, nil), nil, payoutTally{made: 2})
	if !clear.Pass || clear.Summary != "all clear: no problem found in 2 cells, 2 payouts matched" {
		t.Errorf("all clear: %+v", clear)
	}
	bad := reconcileResult(reconcile.NewReport(reconcile.Coverage{Cells: []uint64{1}}, nil,
		[]reconcile.Finding{{Kind: reconcile.ReplicaMismatch, CellID: 1, Detail: "replicas differ"}}), nil, payoutTally{})
	if bad.Pass || !strings.HasPrefix(bad.Summary, "NOT CLEAR: 1 findings") || len(bad.Evidence) == 0 {
		t.Errorf("a finding: %+v", bad)
	}
	failed := reconcileResult(reconcile.Report{}, errors.New("no leader"), payoutTally{})
	if !failed.Inconclusive || failed.Pass {
		t.Errorf("an error: %+v", failed)
	}
}

// Plain status lines: a header, then one line per phase when it ends, in
// columns; throughput only while the workload runs.
func TestStatusPlain(t *testing.T) {
	var b syncWriter
	start := time.Now()
	st := newStatus(&b, false, time.Hour, start)
	st.enter("start", "3 nodes, 3 routers", false)
	st.enter("steady", "", true)
	h := history.New()
	st.observe(h)
	for i := 0; i < 50; i++ {
		id := h.Invoke(history.Op{Kind: history.KindDeposit})
		h.Complete(id, history.OutcomeOK, "", 0)
	}
	id := h.Invoke(history.Op{Kind: history.KindDeposit})
	h.Complete(id, history.OutcomeUnknown, "timeout", 0)
	time.Sleep(300 * time.Millisecond)
	st.enter("checks", "checking history", false)
	st.close()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 lines, got:\n%s", b.String())
	}
	if lines[0] != " time  phase        ops/s errors  cells led per site" {
		t.Errorf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], " 0:00  start            -      -") || !strings.HasSuffix(lines[1], "3 nodes, 3 routers") {
		t.Errorf("start line %q", lines[1])
	}
	f := strings.Fields(lines[2])
	if len(f) != 4 || f[1] != "steady" || f[2] == "-" || f[3] != "1" {
		t.Errorf("steady line %q: want a throughput and 1 error", lines[2])
	}
	if f := strings.Fields(lines[3]); len(f) < 4 || f[1] != "checks" || f[2] != "-" || f[3] != "1" {
		t.Errorf("checks line %q: want no throughput, 1 error so far", lines[3])
	}
}

// On a terminal the line is rewritten in place, cut to fit 80 columns.
func TestStatusLive(t *testing.T) {
	var b syncWriter
	st := newStatus(&b, true, time.Hour, time.Now())
	st.enter("start", strings.Repeat("long note ", 20), false)
	st.close()
	out := b.String()
	if !strings.Contains(out, "\r\x1b[K 0:00  start") || !strings.HasSuffix(out, "…\n") {
		t.Fatalf("live output %q", out)
	}
	for _, l := range strings.Split(out, "\r\x1b[K")[1:] {
		if n := len([]rune(strings.TrimSuffix(l, "\n"))); n > lineRunesMax {
			t.Errorf("line of %d runes: %q", n, l)
		}
	}
}

// syncWriter is a bytes.Buffer the status loop writes while a test reads.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriteTopologyLoads(t *testing.T) {
	topo := testTopology(t)
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := writeTopology(path, topo.Spec()); err != nil {
		t.Fatal(err)
	}
	back, err := topology.Load(path)
	if err != nil {
		t.Fatalf("the written topology does not load: %v", err)
	}
	if len(back.Cells()) != 2 || len(back.Nodes()) != 3 || back.Environment() != "test" {
		t.Fatalf("loaded back %d cells, %d nodes, environment %q", len(back.Cells()), len(back.Nodes()), back.Environment())
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(true); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Fatalf("directories unset: %v", err)
	}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ReportDir = "d", "r"
	if err := cfg.Validate(true); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	cfg.Scenario, cfg.Duration, cfg.Cells, cfg.NodesPerSite, cfg.HoldDown, cfg.Workers = "nope", time.Second, 0, 9, -time.Second, 0
	err := cfg.Validate(true)
	for _, want := range []string{`unknown scenario "nope"`, "duration (1s)", "cells (0)", "nodes per site (9)", "hold-down (-1s)", "workers (0)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not name %q: %v", want, err)
		}
	}
	if err := cfg.Validate(false); err == nil || !strings.Contains(err.Error(), "operator token") || strings.Contains(err.Error(), "workers") {
		t.Errorf("interactive: %v (want the token named, 0 workers allowed)", err)
	}
}
