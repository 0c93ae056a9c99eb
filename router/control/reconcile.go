package control

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/router/forward"
)

// ReconcilerConfig configures a Reconciler. Zero fields take the defaults.
type ReconcilerConfig struct {
	Topology *topology.Topology
	// Dialer reaches the nodes' Cell services (default plain TCP); TLS
	// secures those connections (nil: none).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	TLS    *tls.Config
	// Statements are the providers whose statements are matched against
	// the recorded payouts, by provider name. None: no statement matching
	// (the report says which providers it covered).
	Statements map[string]channel.StatementReader
	// StuckAfter: unsettled transfers and payouts older than this are
	// findings. Default 1 min.
	StuckAfter time.Duration
	// DigestWait bounds the wait for every replica's checkpoint digest.
	// Default 30 s.
	DigestWait time.Duration
	// CellsInFlightMax bounds the cells reconciled at once. Default 4.
	CellsInFlightMax int
	// RequestTimeout bounds each call to a cell's leader, retries
	// included. Default 10 s.
	RequestTimeout time.Duration
	// Now is the clock that times runs and the digest wait (default
	// time.Now).
	Now func() time.Time
}

// Bounds of the digest wait (compareReplicas): a replica not yet at the
// checkpoint is asked again after digestRetryDuration; one ask is bounded
// by digestCallTimeoutDuration. DigestWait bounds them all.
const (
	digestRetryDuration       = 50 * time.Millisecond
	digestCallTimeoutDuration = 5 * time.Second
)

// Reconciler proves, after a failover and whenever asked, that nothing was
// lost or doubled and that every replica agrees (cell/reconcile does the
// checks of one cell; this drives them across the cluster). For each cell:
// a checkpoint through the leader, every replica's digest there (a
// mismatch names the replicas and the first differing key range), the
// leader's check of its state; then the cross-cell sums, and the payouts of
// the window against each provider's statement.
type Reconciler struct {
	cfg   ReconcilerConfig
	fwd   *forward.Forwarder
	conns *forward.Pool

	mu   sync.Mutex
	last map[uint64]uint64 // per cell: the index the previous run checked
}

// NewReconciler validates cfg.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Topology == nil {
		return nil, errors.New("router: ReconcilerConfig.Topology is required")
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = time.Minute
	}
	if cfg.DigestWait <= 0 {
		cfg.DigestWait = 30 * time.Second
	}
	if cfg.CellsInFlightMax <= 0 {
		cfg.CellsInFlightMax = 4
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	fwd, conns := forward.NewHintForwarder(cfg.Topology, cfg.Dialer, cfg.TLS, cfg.RequestTimeout)
	return &Reconciler{cfg: cfg, fwd: fwd, conns: conns, last: map[uint64]uint64{}}, nil
}

// Close closes the connections to the nodes.
func (r *Reconciler) Close() error { return r.conns.Close() }

// cellResult is what one cell contributed.
type cellResult struct {
	summary  *reconcile.CellSummary
	findings []reconcile.Finding
	index    uint64
	payouts  []*pb.PayoutRecord
	err      error
}

// Run reconciles cells (nil: every cell of the topology) and matches the
// payouts created since `since` against the providers' statements. An
// error means the run could not cover what was asked (a cell without a
// leader, a provider that did not answer); the report then says what was
// covered and the error lists what was not.
func (r *Reconciler) Run(ctx context.Context, cells []uint64, since time.Time) (reconcile.Report, error) {
	start := r.cfg.Now()
	if len(cells) == 0 {
		for _, c := range r.cfg.Topology.Cells() {
			cells = append(cells, c.ID)
		}
	}
	var errs []error
	for _, id := range cells {
		if _, ok := r.cfg.Topology.Cell(id); !ok {
			errs = append(errs, fmt.Errorf("router: reconcile: cell %d is not in the topology", id))
		}
	}
	if len(errs) > 0 {
		return reconcile.Report{}, errors.Join(errs...)
	}
	results := make([]cellResult, len(cells))
	slots := make(chan struct{}, r.cfg.CellsInFlightMax)
	var wg sync.WaitGroup
	for i, id := range cells {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i] = r.cell(ctx, id, since)
		})
	}
	wg.Wait()

	covered := reconcile.Coverage{IndexRanges: map[uint64]reconcile.IndexRange{}, From: since}
	var summaries []reconcile.CellSummary
	var findings []reconcile.Finding
	var payouts []*pb.PayoutRecord
	r.mu.Lock()
	for i, res := range results {
		if res.err != nil {
			errs = append(errs, fmt.Errorf("cell %d: %w", cells[i], res.err))
			continue
		}
		covered.Cells = append(covered.Cells, cells[i])
		covered.IndexRanges[cells[i]] = reconcile.IndexRange{From: r.last[cells[i]] + 1, To: res.index}
		r.last[cells[i]] = res.index
		summaries = append(summaries, *res.summary)
		findings = append(findings, res.findings...)
		payouts = append(payouts, res.payouts...)
	}
	r.mu.Unlock()
	if len(covered.Cells) == len(r.cfg.Topology.Cells()) {
		findings = append(findings, r.crossCell(ctx, covered.Cells, summaries)...)
	}
	covered.To = r.cfg.Now()
	names := make([]string, 0, len(r.cfg.Statements))
	for name := range r.cfg.Statements {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		stmt, err := r.cfg.Statements[name].ReadStatement(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s: reading its statement: %w", name, err))
			continue
		}
		covered.Providers = append(covered.Providers, name)
		findings = append(findings, reconcile.MatchStatement(name, payouts, stmt, since, covered.To)...)
	}
	slices.Sort(covered.Cells)
	covered.Duration = r.cfg.Now().Sub(start)
	return reconcile.NewReport(covered, summaries, findings), errors.Join(errs...)
}

// crossCell checks the cross-cell sums. The cells were read one after
// the other while transfers move, so the sums of one round do not describe
// one moment. Two rounds do, through what only grows: a credit counted as
// sent in round A was applied at its payee before, so it is counted as
// received in round B (sum received B >= sum sent A); a credit received in
// round A was debited before, so in round B it is sent or still in flight
// (sum received A <= sum sent B + sum in flight B). When nothing moved
// between the rounds and nothing is in flight, sent must equal received
// (cell/reconcile.CrossCell on that one state).
func (r *Reconciler) crossCell(ctx context.Context, cells []uint64, roundA []reconcile.CellSummary) []reconcile.Finding {
	roundB := make([]reconcile.CellSummary, 0, len(cells))
	for _, id := range cells {
		s, _, _, err := r.check(ctx, id)
		if err != nil {
			return []reconcile.Finding{{Kind: reconcile.CheckSkipped,
				Detail: fmt.Sprintf("cross-cell sums not checked: cell %d could not be read a second time: %v", id, err)}}
		}
		roundB = append(roundB, *s)
	}
	a, b := flowsOf(roundA), flowsOf(roundB)
	if maps.Equal(a, b) {
		return reconcile.CrossCell(roundB) // Nothing moved: one state, the exact check.
	}
	var findings []reconcile.Finding
	currencies := make([]string, 0, len(b))
	for cur := range b {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		fa, fb := a[cur], b[cur]
		if fb.received < fa.sent {
			findings = append(findings, reconcile.Finding{Kind: reconcile.CrossCellImbalance, Currency: cur, AmountMinor: fb.received - fa.sent,
				Detail: fmt.Sprintf("credits counted as sent (%d) were not all received a moment later (%d): a settled credit is missing at its payee", fa.sent, fb.received)})
		}
		if fa.received > fb.sent+fb.inFlight {
			findings = append(findings, reconcile.Finding{Kind: reconcile.CrossCellImbalance, Currency: cur, AmountMinor: fa.received - fb.sent - fb.inFlight,
				Detail: fmt.Sprintf("credits received (%d) exceed what payers sent or still have in flight a moment later (%d + %d): money received that no payer debited", fa.received, fb.sent, fb.inFlight)})
		}
	}
	findings = append(findings, reconcile.Finding{Kind: reconcile.CheckSkipped,
		Detail: "cross-cell transfers moved during the check: sent = received not checked exactly; checked received(later) >= sent(earlier) and received(earlier) <= sent + in flight (later)"})
	return findings
}

// flows are one currency's cross-cell sums over every cell.
type flows struct{ sent, received, inFlight int64 }

func flowsOf(summaries []reconcile.CellSummary) map[string]flows {
	out := map[string]flows{}
	for _, s := range summaries {
		for cur, t := range s.Currencies {
			f := out[cur]
			f.sent += t.SentMinor
			f.received += t.ReceivedMinor
			f.inFlight += t.InFlightMinor
			out[cur] = f
		}
	}
	return out
}

// check runs the leader's check of one cell.
func (r *Reconciler) check(ctx context.Context, cellID uint64) (*reconcile.CellSummary, []reconcile.Finding, uint64, error) {
	var rc *pb.ReconcileCellResponse
	err := r.fwd.Do(ctx, cellID, func(ctx context.Context, cl pb.CellClient) (err error) {
		rc, err = cl.ReconcileCell(ctx, &pb.ReconcileCellRequest{CellId: cellID, StuckAfterMs: r.cfg.StuckAfter.Milliseconds()})
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("check: %w", err)
	}
	var summary reconcile.CellSummary
	var findings []reconcile.Finding
	if err := json.Unmarshal(rc.GetSummaryJson(), &summary); err != nil {
		return nil, nil, 0, fmt.Errorf("decoding the summary of node %s: %w", rc.GetNodeId(), err)
	}
	if err := json.Unmarshal(rc.GetFindingsJson(), &findings); err != nil {
		return nil, nil, 0, fmt.Errorf("decoding the findings of node %s: %w", rc.GetNodeId(), err)
	}
	return &summary, findings, rc.GetAppliedIndex(), nil
}

// cell reconciles one cell.
func (r *Reconciler) cell(ctx context.Context, cellID uint64, since time.Time) cellResult {
	var cp *pb.CheckpointResponse
	err := r.fwd.Do(ctx, cellID, func(ctx context.Context, cl pb.CellClient) (err error) {
		cp, err = cl.Checkpoint(ctx, &pb.CheckpointRequest{CellId: cellID})
		return err
	})
	if err != nil {
		return cellResult{err: fmt.Errorf("checkpoint: %w", err)}
	}
	var res cellResult
	res.findings = r.compareReplicas(ctx, cellID, cp.GetIndex())

	summary, findings, index, err := r.check(ctx, cellID)
	if err != nil {
		return cellResult{err: err}
	}
	res.summary, res.index = summary, index
	res.findings = append(res.findings, findings...)
	if len(r.cfg.Statements) > 0 {
		if res.payouts, err = r.payoutsSince(ctx, cellID, since); err != nil {
			return cellResult{err: fmt.Errorf("listing payouts: %w", err)}
		}
	}
	return res
}

// compareReplicas waits for every replica's digest at the checkpoint and
// reports the replicas that differ from the majority's digest.
func (r *Reconciler) compareReplicas(ctx context.Context, cellID, index uint64) []reconcile.Finding {
	c, _ := r.cfg.Topology.Cell(cellID)
	digests := map[string]replication.Digest{}
	var missing []string
	deadline := r.cfg.Now().Add(r.cfg.DigestWait)
	for _, nodeID := range c.Replicas {
		for {
			d, state, err := r.digest(ctx, nodeID, cellID, index)
			if err == nil && state == cell.DigestReady {
				digests[nodeID] = d
				break
			}
			if state == cell.DigestUnavailable || r.cfg.Now().After(deadline) || !sleepCtx(ctx, digestRetryDuration) {
				missing = append(missing, nodeID)
				break
			}
		}
	}
	var findings []reconcile.Finding
	if len(missing) > 0 {
		findings = append(findings, reconcile.Finding{Kind: reconcile.CheckSkipped, CellID: cellID, IDs: missing,
			Detail: fmt.Sprintf("no digest at checkpoint index %d from these replicas (down, behind, or caught up by snapshot); they were not compared", index)})
	}
	// The majority digest is the reference; each replica that differs is
	// named with the first key range that differs.
	counts := map[[32]byte]int{}
	for _, d := range digests {
		counts[d.SHA256]++
	}
	var ref [32]byte
	best := 0
	for sha, n := range counts {
		if n > best || (n == best && string(sha[:]) < string(ref[:])) {
			ref, best = sha, n
		}
	}
	nodes := make([]string, 0, len(digests))
	for id := range digests {
		nodes = append(nodes, id)
	}
	sort.Strings(nodes)
	var refNode string
	for _, id := range nodes {
		if digests[id].SHA256 == ref {
			refNode = id
			break
		}
	}
	for _, id := range nodes {
		if digests[id].SHA256 == ref {
			continue
		}
		diff := replication.FirstDifference(digests[refNode], digests[id])
		findings = append(findings, reconcile.Finding{Kind: reconcile.ReplicaMismatch, CellID: cellID, IDs: []string{id, refNode},
			Detail: fmt.Sprintf("replica %s differs at index %d from %s (%d replica(s) agree with %s); first differing key range %s", id, index, refNode, best, refNode, diff)})
	}
	return findings
}

func (r *Reconciler) digest(ctx context.Context, nodeID string, cellID, index uint64) (replication.Digest, string, error) {
	n, ok := r.cfg.Topology.Node(nodeID)
	if !ok {
		return replication.Digest{}, cell.DigestUnavailable, fmt.Errorf("node %s is not in the topology", nodeID)
	}
	conn, err := r.conns.Get(n.ClientAddr)
	if err != nil {
		return replication.Digest{}, "", err
	}
	actx, cancel := context.WithTimeout(ctx, digestCallTimeoutDuration)
	defer cancel()
	resp, err := pb.NewCellClient(conn).CheckpointDigest(actx, &pb.CheckpointDigestRequest{CellId: cellID, Index: index})
	if err != nil {
		return replication.Digest{}, "", err
	}
	return cell.DigestOf(resp), resp.GetState(), nil
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// payoutsListPagesMax bounds the pages read per cell (500 payouts each).
const payoutsListPagesMax = 10_000

// payoutsSince lists a cell's payouts created at or after since.
func (r *Reconciler) payoutsSince(ctx context.Context, cellID uint64, since time.Time) ([]*pb.PayoutRecord, error) {
	var out []*pb.PayoutRecord
	token := ""
	for range payoutsListPagesMax {
		var resp *pb.ListPayoutsResponse
		err := r.fwd.Do(ctx, cellID, func(ctx context.Context, cl pb.CellClient) (err error) {
			resp, err = cl.ListPayouts(ctx, &pb.ListPayoutsRequest{CellId: cellID, PageSize: 500, PageToken: token})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, p := range resp.GetPayouts() {
			if p.GetCreatedAtUnixMs() >= since.UnixMilli() {
				out = append(out, p)
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("more than %d pages of payouts", payoutsListPagesMax)
}

// FindingsText is a one-line summary of a report for events and logs.
func FindingsText(rep reconcile.Report) string {
	if rep.AllClear {
		return fmt.Sprintf("all clear: %d cells in %s", len(rep.Covered.Cells), rep.Covered.Duration.Round(time.Millisecond))
	}
	kinds := map[reconcile.Kind]int{}
	for _, f := range rep.Findings {
		if f.Kind.Problem() {
			kinds[f.Kind]++
		}
	}
	var parts []string
	for _, k := range reconcile.Kinds {
		if n := kinds[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return fmt.Sprintf("%d problems: %s", rep.Problems(), strings.Join(parts, ", "))
}
