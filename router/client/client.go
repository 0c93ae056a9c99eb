package client

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Client calls the Payments service of the regional routers. It is safe
// for concurrent use. Close it when done.
type Client struct {
	cfg     Config
	log     *slog.Logger
	routers *routerSet

	closed     atomic.Bool
	life       context.Context // canceled by Close: stops the prober, probes and backoff waits
	endLife    context.CancelFunc
	proberDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// New validates cfg (reporting every violation at once) and returns a
// Client. Connections are made lazily, one per router address; New starts
// the health prober, which Close stops.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	routers, err := newRouterSet(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, routers: routers, proberDone: make(chan struct{})}
	c.life, c.endLife = context.WithCancel(context.Background())
	go c.probeLoop()
	return c, nil
}

// Close stops the prober, waits for it, and closes every connection.
// Operations in flight fail (a sent mutation with *UnknownOutcomeError);
// later ones fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.endLife()
		<-c.proberDone
		c.closeErr = c.routers.close()
	})
	return c.closeErr
}

// CurrentRegion is the region whose routers the client uses now: its own
// unless every router there is unhealthy.
func (c *Client) CurrentRegion() string { return c.routers.currentRegion() }

// CreateAccount creates an account. Options: WithIdempotencyKey,
// WithAllowNegativeBalance.
func (c *Client) CreateAccount(ctx context.Context, accountID, currency string, opts ...Option) (*pb.Account, error) {
	const op = "CreateAccount"
	o, err := resolveKey(op, "idempotency_key", opts)
	if err != nil {
		return nil, err
	}
	req := &pb.CreateAccount{IdempotencyKey: o.key, AccountId: accountID, Currency: currency,
		AllowNegativeBalance: o.allowNegativeBalance}
	var resp *pb.Account
	err = c.do(ctx, operation{name: op, mutation: true, key: o.key}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.CreateAccount(ctx, req)
		return err
	})
	return resp, err
}

// Deposit credits money from outside (externalRef names its origin).
// Option: WithIdempotencyKey.
func (c *Client) Deposit(ctx context.Context, accountID string, amountMinor int64, currency, externalRef string, opts ...Option) (*pb.DepositRecord, error) {
	const op = "Deposit"
	o, err := resolveKey(op, "idempotency_key", opts)
	if err != nil {
		return nil, err
	}
	req := &pb.Deposit{IdempotencyKey: o.key, AccountId: accountID, AmountMinor: amountMinor, Currency: currency,
		ExternalRef: externalRef}
	var resp *pb.DepositRecord
	err = c.do(ctx, operation{name: op, mutation: true, key: o.key}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.Deposit(ctx, req)
		return err
	})
	return resp, err
}

// Transfer moves amountMinor from one account to another. Option:
// WithTransferID (the transfer's id is its idempotency key).
func (c *Client) Transfer(ctx context.Context, from, to string, amountMinor int64, currency string, opts ...Option) (*pb.TransferRecord, error) {
	const op = "Transfer"
	o, err := resolveKey(op, "transfer_id", opts)
	if err != nil {
		return nil, err
	}
	req := &pb.Transfer{TransferId: o.key, FromAccountId: from, ToAccountId: to, AmountMinor: amountMinor,
		Currency: currency}
	var resp *pb.TransferRecord
	err = c.do(ctx, operation{name: op, mutation: true, key: o.key}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.Transfer(ctx, req)
		return err
	})
	return resp, err
}

// GetAccount reads an account (linearizable: from the cell's leader).
func (c *Client) GetAccount(ctx context.Context, accountID string) (*pb.Account, error) {
	req := &pb.AccountLookup{AccountId: accountID}
	var resp *pb.Account
	err := c.do(ctx, operation{name: "GetAccount"}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.GetAccount(ctx, req)
		return err
	})
	return resp, err
}

// GetTransfer reads a transfer; fromAccountID is its payer, whose cell
// stores it. Use it to resolve an *UnknownOutcomeError of a Transfer (or
// simply retry the Transfer with the same id).
func (c *Client) GetTransfer(ctx context.Context, transferID, fromAccountID string) (*pb.TransferRecord, error) {
	req := &pb.TransferLookup{TransferId: transferID, FromAccountId: fromAccountID}
	var resp *pb.TransferRecord
	err := c.do(ctx, operation{name: "GetTransfer"}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.GetTransfer(ctx, req)
		return err
	})
	return resp, err
}

// ListTransfers reads one page of an account's transfers; pass the
// response's next_page_token to get the next page ("" for the first).
func (c *Client) ListTransfers(ctx context.Context, accountID string, pageSize uint32, pageToken string) (*pb.ListTransfersResponse, error) {
	req := &pb.TransferListQuery{AccountId: accountID, PageSize: pageSize, PageToken: pageToken}
	var resp *pb.ListTransfersResponse
	err := c.do(ctx, operation{name: "ListTransfers"}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.ListTransfers(ctx, req)
		return err
	})
	return resp, err
}

// Payout pays amountMinor of currency out of accountID to the outside
// world, through a provider. Options: WithPayoutID (a payout's id is its
// idempotency key, at the ledger and at the provider), WithProvider.
//
// The answer is the payout's record, recorded PENDING (funds held) before
// any provider was called: SUCCEEDED or FAILED when the provider answered
// definitely within the cell's short wait, else still PENDING or UNKNOWN.
// Those are not errors: the cell's leader resolves them with the same
// provider; follow them with GetPayout. When the call itself is ambiguous
// it returns *UnknownOutcomeError with Key the payout id: resolve it with
// GetPayout or with Payout again WithPayoutID(Key) and the same
// parameters, never with a new payout.
func (c *Client) Payout(ctx context.Context, accountID string, amountMinor int64, currency string, opts ...Option) (*pb.PayoutRecord, error) {
	const op = "Payout"
	o, err := resolveKey(op, "payout_id", opts)
	if err != nil {
		return nil, err
	}
	req := &pb.Payout{PayoutId: o.key, AccountId: accountID, AmountMinor: amountMinor, Currency: currency,
		Provider: o.provider}
	var resp *pb.PayoutRecord
	err = c.do(ctx, operation{name: op, mutation: true, key: o.key}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.Payout(ctx, req)
		return err
	})
	return resp, err
}

// GetPayout reads a payout (from its cell's leader); accountID is the
// account it pays out of, whose cell stores it.
func (c *Client) GetPayout(ctx context.Context, payoutID, accountID string) (*pb.PayoutRecord, error) {
	req := &pb.PayoutLookup{PayoutId: payoutID, AccountId: accountID}
	var resp *pb.PayoutRecord
	err := c.do(ctx, operation{name: "GetPayout"}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.GetPayout(ctx, req)
		return err
	})
	return resp, err
}

// ListPayouts reads one page of payouts: of q.State (PAYOUT_STATE_UNSPECIFIED
// for every state), of cell q.CellId or of every cell (0). Pass the
// response's next_page_token as q.PageToken, with the same state and cell,
// for the next page; the listing ends when it is empty. A nil q lists the
// first page of every payout.
func (c *Client) ListPayouts(ctx context.Context, q *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	if q == nil {
		q = &pb.PayoutListQuery{}
	}
	var resp *pb.ListPayoutsResponse
	err := c.do(ctx, operation{name: "ListPayouts"}, func(ctx context.Context, p pb.PaymentsClient) (err error) {
		resp, err = p.ListPayouts(ctx, q)
		return err
	})
	return resp, err
}
