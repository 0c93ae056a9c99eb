package control

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

// Courier is the router's forwarding (leader hints, replica rotation,
// retries of the unchanged request, bounded per cell) packaged for a node's
// outbox relay: it delivers cross-cell credits to the payee cell's leader.
// It learns leaders from the hints in errors only (no gossip), which is
// enough for a few calls per transfer. It implements cell.Courier.
type Courier struct {
	fwd   *forward.Forwarder
	conns *forward.Pool
}

var _ cell.Courier = (*Courier)(nil)

// NewCourier reaches the topology's nodes through dialer (nil: plain TCP)
// with tlsCfg (the node's client TLS; nil: none). One credit, retries
// included, takes at most requestTimeout (0: the router's default).
func NewCourier(topo *topology.Topology, dialer func(ctx context.Context, addr string) (net.Conn, error), tlsCfg *tls.Config, requestTimeout time.Duration) *Courier {
	fwd, conns := forward.NewHintForwarder(topo, dialer, tlsCfg, requestTimeout)
	return &Courier{fwd: fwd, conns: conns}
}

// Credit implements cell.Courier.
func (c *Courier) Credit(ctx context.Context, cellID uint64, credit *pb.CreditIn) (*pb.TransferRecord, error) {
	var out *pb.TransferRecord
	// A credit is a mutation keyed by its transfer id: once an attempt may
	// have applied it, only the result, a stored refusal (rpcstatus.Stored) or
	// OUTCOME_UNKNOWN comes back, so the relay never reverses a credit that
	// may have been applied.
	err := c.fwd.DoMutation(ctx, cellID, "CreditIn", credit.GetTransferId(), func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.CreditIn(ctx, &pb.CreditInRequest{CellId: cellID, Command: credit})
		return err
	})
	return out, err
}

// Close closes the connections to the nodes.
func (c *Courier) Close() error { return c.conns.Close() }
