package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
)

// inProcess is a Target over a chaos/cluster in this process: its network
// is the cluster's fabric, its state is read straight from the nodes' stores.
type inProcess struct {
	c *cluster.Cluster
	// payouts: the workload pays through the cluster's simulated banks
	// (a cluster StartInProcess shaped for it; not a caller's cluster,
	// whose banks are the caller's to use).
	payouts bool
}

// The simulated banks of a cluster StartInProcess starts. They misbehave
// sometimes, as real ones do, and forget ids after a window, as real ones
// do, far beyond any run: correct code never needs to re-submit outside it.
const (
	// payoutCallTimeout bounds a provider call (cell.PayoutConfig), so a
	// bank that hangs after paying leaves its payout PENDING for a second,
	// not the default 10 s, before it is UNKNOWN and queried: an UNKNOWN
	// payout holds its account (refusing its transfers) until resolved.
	payoutCallTimeout = time.Second
	// providerWindowMin is the least idempotency window of the banks;
	// StartInProcess takes at least providerWindowRunsMin times the run
	// (traffic and quiet), as the executor re-submits on "not found" only
	// within half the window of a payout's first attempt.
	providerWindowMin     = 10 * time.Minute
	providerWindowRunsMin = 4
	// timeoutAfterPayingPercent of the Submits of a new payout pay it and
	// then hang until the caller gives up (channel.ModeTimeoutAfterSuccess),
	// seeded, for the first channel.ScriptLenMax Submits of each bank;
	// later ones succeed.
	timeoutAfterPayingPercent = 3
)

// StartInProcess starts a fresh in-process three-site cluster (one node
// and one router per site, three cells) with its data in dir, as a Target.
// Its simulated banks (bank-a, bank-b) keep payout ids for 10 minutes and
// time out after paying 3% of the time; the workload pays through them.
// Close stops it.
func StartInProcess(dir string, seed int64, logger *slog.Logger) (Target, error) {
	return startInProcess(dir, seed, logger, 0)
}

// startInProcess is StartInProcess for a run of runLength (traffic and
// quiet; 0: unknown), whose banks' idempotency window covers it
// providerWindowRunsMin times.
func startInProcess(dir string, seed int64, logger *slog.Logger, runLength time.Duration) (Target, error) {
	window := min(max(providerWindowMin, providerWindowRunsMin*runLength), channel.IdempotencyWindowMax)
	c, err := cluster.Start(cluster.Config{
		Dir: dir, Seed: seed, Logger: logger,
		Payouts:        cell.PayoutConfig{CallTimeout: payoutCallTimeout},
		ProviderConfig: func(sc *channel.SimConfig) { sc.IdempotencyWindow = window },
	})
	if err != nil {
		return nil, err
	}
	for i, name := range c.ProviderNames() {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(1000+i)))
		script := make([]channel.Behaviour, channel.ScriptLenMax)
		for k := range script {
			script[k] = channel.Behaviour{Mode: channel.ModeSucceed}
			if rng.IntN(100) < timeoutAfterPayingPercent {
				script[k].Mode = channel.ModeTimeoutAfterSuccess
			}
		}
		if err := c.Sim(name).ScriptSubmits(script...); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return &inProcess{c: c, payouts: true}, nil
}

var (
	_ Crasher         = (*inProcess)(nil)
	_ inProcessFaults = (*inProcess)(nil)
)

func (p *inProcess) Topology() *topology.Topology { return p.c.Topology }

func (p *inProcess) ClientConfig(region string) client.Config {
	return client.Config{Region: region, Routers: p.c.RouterAddrs(), Dialer: p.c.ClientDialer(region), TLS: p.c.As(auth.RoleClient).ClientTLS()}
}

func (p *inProcess) Leaders(context.Context) map[uint64]string {
	out := map[uint64]string{}
	for _, cl := range p.c.Topology.Cells() {
		if id := p.c.Leader(cl.ID); id != "" {
			out[cl.ID] = id
		}
	}
	return out
}

func (p *inProcess) MoveLeader(ctx context.Context, cellID uint64, nodeID string) error {
	return p.c.TransferLeadership(ctx, cellID, nodeID)
}

func (p *inProcess) Replicas(context.Context) map[uint64][]history.Replica {
	out := map[uint64][]history.Replica{}
	for _, cl := range p.c.Topology.Cells() {
		for _, id := range cl.Replicas {
			n := p.c.Node(id)
			if n == nil {
				continue
			}
			g, err := n.Host().Group(cl.ID)
			if err != nil {
				continue
			}
			applied, sha, err := g.StateDigest()
			if err != nil {
				continue
			}
			out[cl.ID] = append(out[cl.ID], history.Replica{Node: id, Applied: applied, Digest: fmt.Sprintf("%x", sha)})
		}
	}
	return out
}

// ReadLedger reads every cell's leader store: its deposit, held and
// paid-out totals, every transfer and payout it holds (both sides of each
// cross-cell transfer, and the payee's stored refusal of each reversed
// one), and the balances of accounts.
//
// The reads are not one snapshot: a payout the executor settles between
// the totals and the records would look like totals that disagree with
// their records. So the totals of every cell are read again after the
// records, and the whole read is repeated (at most stableLedgerReadsMax
// times) until nothing moved in between.
func (p *inProcess) ReadLedger(ctx context.Context, accounts []string) (history.Final, error) {
	var final history.Final
	var err error
	for attempt := 1; ; attempt++ {
		before, berr := p.totalsFingerprint()
		if berr != nil {
			return final, berr
		}
		if final, err = p.readLedgerOnce(ctx, accounts); err != nil {
			return final, err
		}
		after, aerr := p.totalsFingerprint()
		if aerr != nil {
			return final, aerr
		}
		if before == after || attempt == stableLedgerReadsMax {
			return final, nil
		}
		select {
		case <-ctx.Done():
			return final, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stableLedgerReadsMax bounds the reads of ReadLedger.
const stableLedgerReadsMax = 20

// totalsFingerprint is every cell leader's stored totals, as text.
func (p *inProcess) totalsFingerprint() (string, error) {
	var b strings.Builder
	for _, cl := range p.c.Topology.Cells() {
		n := p.c.Node(p.c.Leader(cl.ID))
		if n == nil {
			return "", fmt.Errorf("chaos: cell %d has no leader", cl.ID)
		}
		g, err := n.Host().Group(cl.ID)
		if err != nil {
			return "", err
		}
		tot, err := cell.ReadTotals(g.Reader())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d:%v|", cl.ID, tot)
	}
	return b.String(), nil
}

func (p *inProcess) readLedgerOnce(_ context.Context, accounts []string) (history.Final, error) {
	final := history.Final{Balances: map[string]int64{}, Transfers: map[string]history.Transfer{},
		Payouts: map[string]history.Payout{}, CrossCell: map[string]history.CrossCellTransfer{}}
	leader := func(cellID uint64) (*cell.Node, error) {
		n := p.c.Node(p.c.Leader(cellID))
		if n == nil {
			return nil, fmt.Errorf("chaos: cell %d has no leader", cellID)
		}
		return n, nil
	}
	for _, cl := range p.c.Topology.Cells() {
		n, err := leader(cl.ID)
		if err != nil {
			return final, err
		}
		g, err := n.Host().Group(cl.ID)
		if err != nil {
			return final, err
		}
		r := g.Reader()
		tot, err := cell.ReadTotals(r)
		if err != nil {
			return final, err
		}
		for _, d := range tot.Deposited {
			final.Deposited += d
		}
		for _, held := range tot.Held {
			final.Held += held
		}
		for _, paid := range tot.PaidOut {
			final.PaidOut += paid
		}
		var decodeErr error
		err = r.Scan([]byte("t/"), []byte("t0"), func(k, v []byte) bool {
			var rec pb.TransferRecord
			if decodeErr = proto.Unmarshal(v, &rec); decodeErr != nil {
				return false
			}
			addRecord(&final, cl.ID, &rec)
			return true
		})
		if err = errors.Join(err, decodeErr); err != nil {
			return final, err
		}
		err = r.Scan([]byte("p/"), []byte("p0"), func(k, v []byte) bool {
			var rec pb.PayoutRecord
			if decodeErr = proto.Unmarshal(v, &rec); decodeErr != nil {
				return false
			}
			addPayout(&final, cl.ID, &rec)
			return true
		})
		if err = errors.Join(err, decodeErr); err != nil {
			return final, err
		}
	}
	// A reversal is right only on a refusal the payee's cell stored under
	// the credit's key: read it for every reversed transfer.
	for ref, t := range final.CrossCell {
		if t.PayerState != history.TransferReversed {
			continue
		}
		n, err := leader(t.ToCell)
		if err != nil {
			return final, err
		}
		g, err := n.Host().Group(t.ToCell)
		if err != nil {
			return final, err
		}
		if t.RefusalStored, err = creditRefused(g.Reader(), t.FromCell, t.From, t.ID); err != nil {
			return final, err
		}
		t.RefusalKnown = true
		final.CrossCell[ref] = t
	}
	for ref, ns := range p.c.CreditsAppliedBy() {
		if t, ok := final.CrossCell[ref]; ok {
			t.AppliedByNs = ns
			final.CrossCell[ref] = t
		}
	}
	for _, a := range accounts {
		owner, _ := p.c.Topology.CellOfAccount(a)
		n, err := leader(owner.ID)
		if err != nil {
			return final, err
		}
		g, err := n.Host().Group(owner.ID)
		if err != nil {
			return final, err
		}
		acc, err := cell.GetAccount(g.Reader(), a)
		if err != nil {
			return final, err
		}
		final.Balances[a] = acc.GetBalanceMinor()
	}
	return final, nil
}

func (p *inProcess) Cut(a, b string) error     { p.c.Fabric.Cut(a, b); return nil }
func (p *inProcess) Heal(a, b string) error    { p.c.Fabric.Heal(a, b); return nil }
func (p *inProcess) Isolate(site string) error { p.c.Fabric.Isolate(site); return nil }
func (p *inProcess) HealAll() error            { p.c.Fabric.HealAll(); return nil }
func (p *inProcess) CutIngress(site string) error {
	for _, r := range regionsOf(p.c.Topology) {
		p.c.Fabric.Cut(cluster.ClientSite(r), site)
	}
	return nil
}

func (p *inProcess) Delay(a, b string) (time.Duration, time.Duration, error) {
	l := p.c.Fabric.Link(a, b)
	return l.Delay, l.Jitter, nil
}

func (p *inProcess) SetDelay(a, b string, oneWay, jitter time.Duration) error {
	p.c.Fabric.SetDelay(a, b, oneWay, jitter)
	return nil
}

func (p *inProcess) SetDelayOneWay(from, to string, oneWay, jitter time.Duration) error {
	l := p.c.Fabric.Link(from, to)
	l.Delay, l.Jitter = oneWay, jitter
	p.c.Fabric.SetLink(from, to, l)
	return nil
}

func (p *inProcess) PayoutProviders() []string {
	if !p.payouts {
		return nil
	}
	return p.c.ProviderNames()
}

// ReadProviders reads the simulated banks: what each really paid, every
// Submit it got, and the Queries of payoutIDs.
func (p *inProcess) ReadProviders(_ context.Context, payoutIDs []string) (map[string]history.ProviderStatement, error) {
	out := map[string]history.ProviderStatement{}
	for _, name := range p.c.ProviderNames() {
		sim := p.c.Sim(name)
		st := history.ProviderStatement{SubmitCalls: sim.AllSubmitCalls(), QueryCalls: map[string]int{}}
		for _, e := range sim.Statement() {
			st.Paid = append(st.Paid, history.Paid{PayoutID: e.PayoutID, Account: e.Account, Amount: e.AmountMinor})
		}
		for _, id := range payoutIDs {
			if n := sim.QueryCalls(id); n > 0 {
				st.QueryCalls[id] = n
			}
		}
		out[name] = st
	}
	return out, nil
}

func (p *inProcess) ChangeProviders(change channel.BehaviourChange) error {
	var errs []error
	for _, name := range p.c.ProviderNames() {
		_, err := p.c.Sim(name).ChangeBehaviours(change)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *inProcess) SetCreditFault(f *cluster.CreditFault) { p.c.SetCreditFault(f) }

func (p *inProcess) CreditFaultCounts() cluster.CreditFaultCounts { return p.c.CreditFaultCounts() }

func (p *inProcess) CrashNode(id string) error       { return p.c.StopNode(id) }
func (p *inProcess) RestartNode(id string) error     { return p.c.RestartNode(id) }
func (p *inProcess) CrashRouter(site string) error   { return p.c.StopRouter(site) }
func (p *inProcess) RestartRouter(site string) error { return p.c.StartRouter(site) }

func (p *inProcess) Describe() string {
	t := p.c.Topology
	return fmt.Sprintf("in-process cluster: %d sites, %d nodes, %d cells, one router per site", len(t.Sites()), len(t.Nodes()), len(t.Cells()))
}

func (p *inProcess) Close() error { return p.c.Close() }
