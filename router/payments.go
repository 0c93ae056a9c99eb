package router

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
)

// payments is the public Payments service: it validates a request, finds
// the cell of its account (slot -> cell) and forwards it.
type payments struct {
	pb.UnimplementedPaymentsServer
	topo *topology.Topology
	fwd  *forwarder
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
	if err := cell.ValidateCreateAccount(c); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(c.GetAccountId())
	if err != nil {
		return nil, err
	}
	var out *pb.Account
	var md metadata.MD
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
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
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
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
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
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
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: id, AccountId: q.GetAccountId()})
		return err
	})
	return out, err
}

func (p *payments) GetTransfer(ctx context.Context, q *pb.TransferLookup) (*pb.TransferRecord, error) {
	// A transfer is stored in its payer's cell, and a cross-cell one in its
	// payee's too: the lookup names one of them.
	field, account := "from_account_id", q.GetFromAccountId()
	if account == "" && q.GetToAccountId() != "" {
		field, account = "to_account_id", q.GetToAccountId()
	}
	if err := cell.ValidateAccountID(field, account); err != nil {
		return nil, invalid(err)
	}
	id, err := p.cellOf(account)
	if err != nil {
		return nil, err
	}
	var out *pb.TransferRecord
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.GetTransfer(ctx, &pb.GetTransferRequest{CellId: id, TransferId: q.GetTransferId()})
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
	err = p.fwd.do(ctx, id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.ListTransfers(ctx, &pb.ListTransfersRequest{CellId: id, AccountId: q.GetAccountId(), PageSize: q.GetPageSize(), PageToken: q.GetPageToken()})
		return err
	})
	return out, err
}
