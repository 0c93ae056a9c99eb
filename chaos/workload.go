package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
)

// bank is the bank workload: accounts in every cell, funded by deposits,
// then random transfers (most in one cell, some to another cell), small
// deposits, payouts (when the target has providers) and balance reads.
type bank struct {
	h        *history.History
	clients  []*client.Client // one per region; worker p uses clients[p%len]
	accounts [][]string       // by cell index
	currency string
	balance  int64  // initial deposit per account
	tag      string // "" or "TAG-": prefixes account ids and keys (Options.RunTag)
	// providers the payouts go through, one at random each (nil: no
	// payouts; their share of the operations are reads).
	providers []string
}

// Workload limits.
const (
	accountsPerCell = 4
	initialBalance  = 1_000_000
	transferMax     = 500
	// crossCellPercent of all operations are transfers to another cell's
	// account (out of the 65% that are transfers).
	crossCellPercent = 15
	// payoutPercent of all operations are payouts (when the target has
	// providers), each of at most payoutMax.
	payoutPercent = 6
	payoutMax     = 500
	// payoutReasksMax bounds how often a payout whose answer was ambiguous
	// is asked again, with the same id and parameters (never a new id):
	// each ask waits up to the client's deadline, and the final state
	// says what became of it anyway.
	payoutReasksMax = 3
)

// accountSearchMax bounds the search for an account id that hashes into a
// given cell: with 4096 slots and a cell owning at least one, a million
// tries miss with probability (1-1/4096)^1e6, nil in practice.
const accountSearchMax = 1_000_000

func newBank(topo *topology.Topology, h *history.History, clients []*client.Client, tag string) (*bank, error) {
	if tag != "" {
		tag += "-"
	}
	b := &bank{h: h, clients: clients, currency: "CNY", balance: initialBalance, tag: tag}
	for _, cl := range topo.Cells() {
		var accts []string
		for i := 0; len(accts) < accountsPerCell; i++ {
			if i >= accountSearchMax {
				return nil, fmt.Errorf("chaos: found only %d account ids in cell %d after %d tries", len(accts), cl.ID, i)
			}
			id := fmt.Sprintf("acct-%s%d-%d", tag, cl.ID, i)
			if owner, ok := topo.CellOfAccount(id); ok && owner.ID == cl.ID {
				accts = append(accts, id)
			}
		}
		b.accounts = append(b.accounts, accts)
	}
	return b, nil
}

// describe says in a few words what the workload does, for the report.
func (b *bank) describe() string {
	if len(b.providers) == 0 {
		return "transfers/deposits/reads (no payouts: the target has no provider the run can read)"
	}
	return fmt.Sprintf("transfers/deposits/reads and %d%% payouts (%s)", payoutPercent, strings.Join(b.providers, ", "))
}

func (b *bank) allAccounts() []string {
	var out []string
	for _, a := range b.accounts {
		out = append(out, a...)
	}
	return out
}

// outcome classifies a client error for the history.
func outcome(err error) (history.Outcome, string) {
	var be *client.BusinessError
	switch {
	case err == nil:
		return history.OutcomeOK, ""
	case errors.As(err, &be):
		return history.OutcomeFail, be.Reason
	case errors.Is(err, client.ErrOutcomeUnknown):
		return history.OutcomeUnknown, err.Error()
	case errors.Is(err, client.ErrUnavailable):
		return history.OutcomeFail, "UNAVAILABLE: " + err.Error() // nothing reached a server
	default:
		return history.OutcomeUnknown, err.Error()
	}
}

// setup creates and funds every account, retrying each operation with its
// key until it is definite (setup must succeed before faults start).
func (b *bank) setup(ctx context.Context) error {
	cl := b.clients[0]
	for _, a := range b.allAccounts() {
		for _, step := range []struct {
			kind history.Kind
			key  string
			do   func(key string) error
		}{
			{history.KindCreate, "create-" + a, func(key string) error {
				_, err := cl.CreateAccount(ctx, a, b.currency, client.WithIdempotencyKey(key))
				return err
			}},
			{history.KindDeposit, "fund-" + a, func(key string) error {
				_, err := cl.Deposit(ctx, a, b.balance, b.currency, "setup", client.WithIdempotencyKey(key))
				return err
			}},
		} {
			amount := int64(0)
			if step.kind == history.KindDeposit {
				amount = b.balance
			}
			for attempt := 0; ; attempt++ {
				id := b.h.Invoke(history.Op{Process: -1, Kind: step.kind, Key: step.key, Account: a, Amount: amount})
				err := step.do(step.key)
				o, reason := outcome(err)
				b.h.Complete(id, o, reason, 0)
				if o != history.OutcomeUnknown {
					if err != nil {
						return fmt.Errorf("chaos: setup %s %s: %w", step.kind, a, err)
					}
					break
				}
				if attempt >= 5 || ctx.Err() != nil {
					return fmt.Errorf("chaos: setup %s %s stayed unknown: %w", step.kind, a, err)
				}
			}
		}
	}
	return nil
}

// run drives workers until stop is closed.
func (b *bank) run(ctx context.Context, workers int, seed int64, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for p := 0; p < workers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(p)))
			cl := b.clients[p%len(b.clients)]
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				accts := b.accounts[rng.IntN(len(b.accounts))]
				a := accts[rng.IntN(len(accts))]
				switch r := rng.IntN(100); {
				case r < 65:
					to := accts[rng.IntN(len(accts))]
					for to == a {
						to = accts[rng.IntN(len(accts))]
					}
					if r < crossCellPercent && len(b.accounts) > 1 {
						// A payee in another cell: a cross-cell transfer (saga).
						other := b.accounts[rng.IntN(len(b.accounts))]
						for other[0] == accts[0] {
							other = b.accounts[rng.IntN(len(b.accounts))]
						}
						to = other[rng.IntN(len(other))]
					}
					amount := 1 + rng.Int64N(transferMax)
					key := fmt.Sprintf("t-%s%d-%d-%d", b.tag, seed, p, k)
					id := b.h.Invoke(history.Op{Process: p, Kind: history.KindTransfer, Key: key, Account: a, To: to, Amount: amount})
					_, err := cl.Transfer(ctx, a, to, amount, b.currency, client.WithTransferID(key))
					o, reason := outcome(err)
					b.h.Complete(id, o, reason, 0)
				case r < 75:
					amount := 1 + rng.Int64N(transferMax)
					key := fmt.Sprintf("d-%s%d-%d-%d", b.tag, seed, p, k)
					id := b.h.Invoke(history.Op{Process: p, Kind: history.KindDeposit, Key: key, Account: a, Amount: amount})
					_, err := cl.Deposit(ctx, a, amount, b.currency, "chaos", client.WithIdempotencyKey(key))
					o, reason := outcome(err)
					b.h.Complete(id, o, reason, 0)
				case r < 75+payoutPercent && len(b.providers) > 0:
					amount := 1 + rng.Int64N(payoutMax)
					provider := b.providers[rng.IntN(len(b.providers))]
					b.payout(ctx, cl, p, a, fmt.Sprintf("po-%s%d-%d-%d", b.tag, seed, p, k), amount, provider, stop)
				default:
					id := b.h.Invoke(history.Op{Process: p, Kind: history.KindRead, Account: a})
					acc, err := cl.GetAccount(ctx, a)
					if err != nil {
						// A failed read has no effect and no output: drop it from the model.
						b.h.Complete(id, history.OutcomeFail, err.Error(), 0)
						continue
					}
					b.h.Complete(id, history.OutcomeOK, "", acc.GetBalanceMinor())
				}
			}
		}()
	}
	wg.Wait()
}

// payout pays amount out of account through provider under payout id key
// (unique per account: it names the seed, worker and operation). An
// ambiguous answer (UNKNOWN, carrying the id) is asked again with the same
// id and parameters, at most payoutReasksMax times and not after stop: a
// payout is never sent again under a new id. An answer with a record,
// whatever its state (PENDING, UNKNOWN at the provider, SUCCEEDED, FAILED),
// is ok: the ledger recorded the payout and resolves it with the provider.
func (b *bank) payout(ctx context.Context, cl *client.Client, process int, account, key string, amount int64, provider string, stop <-chan struct{}) {
	for ask := 0; ; ask++ {
		id := b.h.Invoke(history.Op{Process: process, Kind: history.KindPayout, Key: key, Account: account, Amount: amount, Provider: provider})
		_, err := cl.Payout(ctx, account, amount, b.currency, client.WithPayoutID(key), client.WithProvider(provider))
		o, reason := outcome(err)
		b.h.Complete(id, o, reason, 0)
		if o != history.OutcomeUnknown || ask >= payoutReasksMax {
			return
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
	}
}

// pause is a bounded sleep that ends early when stop closes.
func pause(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
