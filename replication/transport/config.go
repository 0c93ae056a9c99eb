package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
)

// Config configures a node's transport. DefaultConfig fills every field but
// Listener and AdvertiseAddr; Validate reports every violation at once.
type Config struct {
	// Listener is where this node's gRPC server accepts peers. Required. The
	// transport owns it from New on and closes it in Close. Wrap it (or the
	// Dialer) to inject faults.
	Listener net.Listener
	// AdvertiseAddr is the address peers dial to reach this node; it is the
	// raft.ServerAddress of every replica on the node. Required.
	AdvertiseAddr string
	// Dialer opens connections to peers. Default: a net.Dialer over TCP.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// ServerTLS secures the listener; nil serves plain TCP (development only).
	ServerTLS *tls.Config
	// ClientTLS secures connections to peers; nil dials plain TCP.
	ClientTLS *tls.Config
	// ServerOptions are added to the server's (its authorization
	// interceptors: only nodes, each claiming its own id; ClaimedNodeID).
	ServerOptions []grpc.ServerOption

	// RPCTimeout bounds every unary RPC (AppendEntries, votes, TimeoutNow)
	// and the oldest unanswered pipelined AppendEntries. The host derives it
	// from the raft timeouts. Default 1 s.
	RPCTimeout time.Duration
	// SnapshotBytesPerSecondMin is the slowest transfer rate an
	// InstallSnapshot may have before it is abandoned: its deadline is
	// RPCTimeout + size / SnapshotBytesPerSecondMin. Default 1 MiB/s.
	SnapshotBytesPerSecondMin int64
	// SnapshotChunkBytes is the size of each InstallSnapshot data message.
	// Default 256 KiB.
	SnapshotChunkBytes int
	// PipelineInFlightMax bounds the unanswered AppendEntries of one
	// pipeline (hashicorp/raft itself keeps at most 128). Default 128.
	PipelineInFlightMax int
	// MessageBytesMax bounds one gRPC message in either direction. Default 64 MiB.
	MessageBytesMax int

	// KeepaliveInterval is how long a connection may be idle before the
	// server pings the client; KeepaliveTimeout how long a ping may go
	// unanswered before the connection is declared dead. The server's
	// enforcement policy is relaxed to KeepaliveInterval/2, because grpc-go's
	// default minimum of 5 minutes would close connections that ping this
	// often. Defaults 1 s and 2 s. (grpc-go's client pings at most every
	// 10 s, so the client side also uses PeerDeadAfter below.)
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// PeerDeadAfter: when RPCs to a peer keep failing with deadline errors
	// and nothing has succeeded for this long, the connection is presumed
	// black-holed and replaced by a fresh one, which also breaks every stream
	// on it so raft re-establishes them. Default 3 s.
	PeerDeadAfter time.Duration
	// ReconnectBackoffMax caps the delay between reconnection attempts to a
	// peer (grpc-go's default of 120 s would leave a healed link unused for
	// minutes). Default 2 s.
	ReconnectBackoffMax time.Duration

	// Logger receives transport events. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every tunable set to its default.
func DefaultConfig() Config {
	return Config{
		RPCTimeout:                time.Second,
		SnapshotBytesPerSecondMin: 1 << 20,
		SnapshotChunkBytes:        256 << 10,
		PipelineInFlightMax:       128,
		MessageBytesMax:           64 << 20,
		KeepaliveInterval:         time.Second,
		KeepaliveTimeout:          2 * time.Second,
		PeerDeadAfter:             3 * time.Second,
		ReconnectBackoffMax:       2 * time.Second,
	}
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("transport: "+format, args...)) }
	if c.Listener == nil {
		bad("Listener is required")
	}
	if c.AdvertiseAddr == "" {
		bad("AdvertiseAddr is required")
	} else if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
		bad("AdvertiseAddr %q is not host:port: %v", c.AdvertiseAddr, err)
	}
	if c.RPCTimeout <= 0 {
		bad("RPCTimeout (%s) must be positive", c.RPCTimeout)
	}
	if c.SnapshotBytesPerSecondMin <= 0 {
		bad("SnapshotBytesPerSecondMin (%d) must be positive", c.SnapshotBytesPerSecondMin)
	}
	if c.SnapshotChunkBytes <= 0 || c.SnapshotChunkBytes > c.MessageBytesMax/2 {
		bad("SnapshotChunkBytes (%d) must be positive and at most half of MessageBytesMax (%d)", c.SnapshotChunkBytes, c.MessageBytesMax)
	}
	if c.PipelineInFlightMax <= 0 {
		bad("PipelineInFlightMax (%d) must be positive", c.PipelineInFlightMax)
	}
	if c.MessageBytesMax < 1<<20 {
		bad("MessageBytesMax (%d) must be at least 1 MiB", c.MessageBytesMax)
	}
	if c.KeepaliveInterval < time.Second {
		bad("KeepaliveInterval (%s) must be at least 1s (grpc-go's server minimum)", c.KeepaliveInterval)
	}
	if c.PeerDeadAfter < c.RPCTimeout {
		bad("PeerDeadAfter (%s) must be at least RPCTimeout (%s)", c.PeerDeadAfter, c.RPCTimeout)
	}
	if c.KeepaliveTimeout <= 0 {
		bad("KeepaliveTimeout (%s) must be positive", c.KeepaliveTimeout)
	}
	if c.ReconnectBackoffMax <= 0 {
		bad("ReconnectBackoffMax (%s) must be positive", c.ReconnectBackoffMax)
	}
	return errors.Join(errs...)
}
