package router

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

// payments is the public Payments service: it validates a request, finds
// the cell of its account (slot -> cell) and forwards it.
type payments struct {
	pb.UnimplementedPaymentsServer
	topo *topology.Topology
	fwd  *forward.Forwarder
}

// invalid answers INVALID_ARGUMENT with the field named, without
// forwarding anything.
func invalid(err error) error {
	return cell.InputStatus(err, 0)
}

func (p *payments) cellOf(account string) (uint64, error) {
	c, ok := p.topo.CellOfAccount(account)
	if !ok {
		return 0, status.Errorf(codes.Internal, "router: no cell owns account %q", account)
	}
	return c.ID, nil
}

// relayReplayed copies the node's idempotent-replayed header to the client.
func relayReplayed(ctx context.Context, md metadata.MD) {
	if v := md.Get(cell.ReplayedHeader); len(v) > 0 {
		_ = grpc.SetHeader(ctx, metadata.Pairs(cell.ReplayedHeader, v[0]))
	}
}

func (p *payments) CreateAccount(ctx context.Context, c *pb.CreateAccount) (*pb.Account, error) {
	// An overdraft account can pay out money it never had. The public API
	// does not yet know who its callers are (no client authentication), so
	// it refuses the flag to everyone, before validation, and forwards
	// nothing; operators open such accounts with a command of their own.
	if c.GetAllowNegativeBalance() {
		const field = "allow_negative_balance"
		return nil, rpcstatus.Error(codes.PermissionDenied, "PERMISSION_DENIED",
			"router: "+field+" is refused on the public Payments API: overdraft accounts are created by an operator "+
				"command (cellpay account create --overdraft)",
			map[string]string{rpcstatus.MetaField: field})
	}
	if err := cell.ValidateCreateAccount(c); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(c.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.Account
	var md metadata.MD
	err = p.fwd.DoMutation(ctx, id, "CreateAccount", c.GetIdempotencyKey(), func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: id, Command: c}, grpc.Header(&md))
		return err
	})
	relayReplayed(ctx, md)
	return out, err
}

func (p *payments) Deposit(ctx context.Context, c *pb.Deposit) (*pb.DepositRecord, error) {
	if err := cell.ValidateDeposit(c); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(c.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.DepositRecord
	var md metadata.MD
	err = p.fwd.DoMutation(ctx, id, "Deposit", c.GetIdempotencyKey(), func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.Deposit(ctx, &pb.DepositRequest{CellId: id, Command: c}, grpc.Header(&md))
		return err
	})
	relayReplayed(ctx, md)
	return out, err
}

func (p *payments) Transfer(ctx context.Context, c *pb.Transfer) (*pb.TransferRecord, error) {
	if err := cell.ValidateTransfer(c); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(c.GetFromAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.TransferRecord
	var md metadata.MD
	// A transfer's id is its idempotency key.
	err = p.fwd.DoMutation(ctx, id, "Transfer", c.GetTransferId(), func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.Transfer(ctx, &pb.TransferRequest{CellId: id, Command: c}, grpc.Header(&md))
		return err
	})
	relayReplayed(ctx, md)
	return out, err
}

func (p *payments) GetAccount(ctx context.Context, q *pb.AccountLookup) (*pb.Account, error) {
	if err := cell.ValidateAccountID("account_id", q.GetAccountId()); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(q.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.Account
	err = p.fwd.Do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: id, AccountId: q.GetAccountId()})
		return err
	})
	return out, err
}

func (p *payments) GetTransfer(ctx context.Context, q *pb.TransferLookup) (*pb.TransferRecord, error) {
	// A transfer id is scoped to its payer account: the lookup must name
	// the payer, and is answered by the payer's cell (whose record of a
	// cross-cell transfer shows its outcome). With to_account_id too, the
	// record must name that payee; otherwise it is "not found", so no
	// lookup learns of another payer's or payee's transfer.
	if err := cell.ValidateAccountID("from_account_id", q.GetFromAccountId()); err != nil {
		return nil, invalid(err)
	}
	if to := q.GetToAccountId(); to != "" {
		if err := cell.ValidateAccountID("to_account_id", to); err != nil {
			return nil, invalid(err)
		}
	}
	id, err := p.cellOf(q.GetFromAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.TransferRecord
	err = p.fwd.Do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.GetTransfer(ctx, &pb.GetTransferRequest{CellId: id, TransferId: q.GetTransferId(),
			FromAccountId: q.GetFromAccountId(), ToAccountId: q.GetToAccountId()})
		return err
	})
	return out, err
}

func (p *payments) ListTransfers(ctx context.Context, q *pb.TransferListQuery) (*pb.ListTransfersResponse, error) {
	if err := cell.ValidateAccountID("account_id", q.GetAccountId()); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(q.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.ListTransfersResponse
	err = p.fwd.Do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.ListTransfers(ctx, &pb.ListTransfersRequest{CellId: id, AccountId: q.GetAccountId(), PageSize: q.GetPageSize(), PageToken: q.GetPageToken()})
		return err
	})
	return out, err
}

// Payout records a payout in its account's cell; the cell answers its
// record, settled if the provider answered definitely within a short wait.
func (p *payments) Payout(ctx context.Context, c *pb.Payout) (*pb.PayoutRecord, error) {
	if err := cell.ValidatePayout(c); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(c.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.PayoutRecord
	var md metadata.MD
	// A payout's id is its idempotency key.
	err = p.fwd.DoMutation(ctx, id, "Payout", c.GetPayoutId(), func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.Payout(ctx, &pb.PayoutRequest{CellId: id, Command: c}, grpc.Header(&md))
		return err
	})
	relayReplayed(ctx, md)
	return out, err
}

func (p *payments) GetPayout(ctx context.Context, q *pb.PayoutLookup) (*pb.PayoutRecord, error) {
	// The cell checks the id's syntax; an empty one is refused here, so the
	// error names the field before anything is forwarded.
	if q.GetPayoutId() == "" {
		return nil, invalid(&cell.InputError{Field: "payout_id", Reason: "is required"})
	}
	if err := cell.ValidateAccountID("account_id", q.GetAccountId()); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(q.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.PayoutRecord
	err = p.fwd.Do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.GetPayout(ctx, &pb.GetPayoutRequest{CellId: id, PayoutId: q.GetPayoutId(), AccountId: q.GetAccountId()})
		return err
	})
	return out, err
}

// Limits of ListPayouts.
const (
	// payoutPageSizeDefault and payoutPageSizeMax are the cells' own.
	payoutPageSizeDefault = 50
	payoutPageSizeMax     = 500
	// payoutFanoutCellsMax bounds the cells one ListPayouts of every cell
	// asks at once: each is a current read on a leader, maybe in another
	// region, and a page rarely needs more than the first few cells.
	payoutFanoutCellsMax = 8
	// payoutPageTokenBytesMax bounds a page token before it is decoded (a
	// real one is under 300 bytes: a cell's token is the hex of a payout
	// id of at most 128 bytes).
	payoutPageTokenBytesMax = 1024
)

// ListPayouts lists the payouts of one cell, or of every cell in cell id
// order (each cell lists by payout id). With cell_id 0 it asks the cells
// from the page token's on, at most payoutFanoutCellsMax at once, each
// through the forwarder, and fills the page in cell order. A cell that does
// not answer fails the whole request: a page silently lacking a cell's
// UNKNOWN payouts would tell an operator that there are none.
func (p *payments) ListPayouts(ctx context.Context, q *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	state := q.GetState()
	if _, ok := pb.PayoutState_name[int32(state)]; !ok {
		return nil, invalid(&cell.InputError{Field: "state", Reason: fmt.Sprintf("%d is not a PayoutState", int32(state))})
	}
	var cells []uint64
	if q.GetCellId() != 0 {
		if _, ok := p.topo.Cell(q.GetCellId()); !ok {
			return nil, invalid(&cell.InputError{Field: "cell_id", Reason: fmt.Sprintf("cell %d is not in the topology", q.GetCellId())})
		}
		cells = []uint64{q.GetCellId()}
	} else {
		for _, c := range p.topo.Cells() { // sorted by id
			cells = append(cells, c.ID)
		}
	}
	n := q.GetPageSize()
	if n == 0 {
		n = payoutPageSizeDefault
	}
	n = min(n, payoutPageSizeMax)
	start := payoutCursor{cellID: cells[0]}
	if q.GetPageToken() != "" {
		cur, err := decodePayoutToken(q.GetPageToken())
		if err != nil {
			return nil, invalid(err)
		}
		i := slices.Index(cells, cur.cellID)
		if i < 0 {
			return nil, invalid(&cell.InputError{Field: "page_token",
				Reason: fmt.Sprintf("it continues a listing of cell %d, not of this query's cells (cell_id %d)", cur.cellID, q.GetCellId())})
		}
		cells, start = cells[i:], cur
	}
	out := &pb.ListPayoutsResponse{}
	for next := 0; next < len(cells); {
		wave := cells[next:min(len(cells), next+payoutFanoutCellsMax)]
		pages, err := p.listPayoutPages(ctx, wave, start, state, n)
		if err != nil {
			return nil, err
		}
		for i, id := range wave {
			next++
			page, token := pages[i], start.tokenFor(id)
			room := n - uint32(len(out.Payouts))
			if uint32(len(page.GetPayouts())) > room {
				// Earlier cells filled part of the page: ask this one again
				// for exactly the room left, so that its token points just
				// past the last payout returned.
				if page, err = p.listCellPayouts(ctx, id, state, room, token); err != nil {
					return nil, err
				}
				if uint32(len(page.GetPayouts())) > room {
					return nil, status.Errorf(codes.Internal, "router: cell %d answered %d payouts for a page of %d", id, len(page.GetPayouts()), room)
				}
			}
			out.Payouts = append(out.Payouts, page.GetPayouts()...)
			if page.GetNextPageToken() != "" {
				out.NextPageToken = encodePayoutToken(payoutCursor{cellID: id, cellToken: page.GetNextPageToken()})
				return out, nil
			}
			if uint32(len(out.Payouts)) == n {
				if next < len(cells) {
					out.NextPageToken = encodePayoutToken(payoutCursor{cellID: cells[next]})
				}
				return out, nil
			}
		}
	}
	return out, nil
}

// listPayoutPages asks each cell for a page of n payouts, concurrently;
// the first error cancels the others and is returned.
func (p *payments) listPayoutPages(ctx context.Context, cells []uint64, start payoutCursor, state pb.PayoutState, n uint32) ([]*pb.ListPayoutsResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make([]*pb.ListPayoutsResponse, len(cells))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i, id := range cells {
		wg.Go(func() {
			page, err := p.listCellPayouts(ctx, id, state, n, start.tokenFor(id))
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
				return
			}
			pages[i] = page
		})
	}
	wg.Wait()
	return pages, firstErr
}

func (p *payments) listCellPayouts(ctx context.Context, id uint64, state pb.PayoutState, n uint32, token string) (*pb.ListPayoutsResponse, error) {
	var out *pb.ListPayoutsResponse
	err := p.fwd.Do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.ListPayouts(ctx, &pb.ListPayoutsRequest{CellId: id, State: state, PageSize: n, PageToken: token})
		return err
	})
	if err == nil && out == nil {
		out = &pb.ListPayoutsResponse{}
	}
	return out, err
}

// payoutCursor is where a ListPayouts page ends: a cell, and the cell's own
// page token within it ("" for its first payout).
type payoutCursor struct {
	cellID    uint64
	cellToken string
}

// tokenFor is the cell token to start cell id at: the cursor's own for its
// cell, "" (the beginning) for the cells after it.
func (c payoutCursor) tokenFor(id uint64) string {
	if id == c.cellID {
		return c.cellToken
	}
	return ""
}

// payoutTokenVersion starts every ListPayouts page token, so that the
// format can change without old tokens being misread.
const payoutTokenVersion = "p1"

// encodePayoutToken is base64url("p1/<cell id>/<cell token>"): opaque to
// clients, safe in a URL query.
func encodePayoutToken(c payoutCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(payoutTokenVersion + "/" + strconv.FormatUint(c.cellID, 10) + "/" + c.cellToken))
}

func decodePayoutToken(token string) (payoutCursor, error) {
	bad := func(why string) error {
		shown := token
		if len(shown) > 80 {
			shown = shown[:80] + "..."
		}
		return &cell.InputError{Field: "page_token", Reason: fmt.Sprintf("%q is not a token from a previous page: %s", shown, why)}
	}
	if len(token) > payoutPageTokenBytesMax {
		return payoutCursor{}, bad(fmt.Sprintf("%d bytes, more than %d", len(token), payoutPageTokenBytesMax))
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return payoutCursor{}, bad("not base64url")
	}
	parts := strings.SplitN(string(raw), "/", 3)
	if len(parts) != 3 || parts[0] != payoutTokenVersion {
		return payoutCursor{}, bad("unknown format")
	}
	id, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil || id == 0 {
		return payoutCursor{}, bad("no cell id")
	}
	return payoutCursor{cellID: id, cellToken: parts[2]}, nil
}
