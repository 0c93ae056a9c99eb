package channel

import (
	"context"
	"time"
)

// Provider is a payment channel that pays payouts to the outside world (a
// bank, a payment interface). Implementations: Sim (in process) and
// HTTPProvider (a provider behind HTTP, e.g. `cellpay provider`). doc.go
// states the contract every implementation keeps and every caller relies
// on.
type Provider interface {
	// Name identifies the provider (e.g. "bank-a"); a payout is recorded
	// with the name of the provider it was submitted to and only ever
	// queried there.
	Name() string
	// Submit asks the provider to pay p, idempotently on p.ID.
	Submit(ctx context.Context, p Payout) (Result, error)
	// Query asks what became of the payout with this id.
	Query(ctx context.Context, payoutID string) (Result, error)
}

// StatementReader is a provider that can list what it really paid, for
// reconciliation against the recorded payouts.
type StatementReader interface {
	ReadStatement(ctx context.Context) ([]StatementEntry, error)
}

// StatementEntry is one payment a provider really made.
type StatementEntry struct {
	PayoutID    string    `json:"payout_id"`
	Account     string    `json:"account"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	ProviderRef string    `json:"provider_ref"`
	PaidAt      time.Time `json:"paid_at"`
}

var (
	_ Provider        = (*Sim)(nil)
	_ StatementReader = (*Sim)(nil)
	_ Provider        = (*HTTPProvider)(nil)
	_ StatementReader = (*HTTPProvider)(nil)
)
