package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/cellpay/cellpay/replication/storage"
)

// Config configures a node's Host. DefaultConfig fills every tunable;
// Validate (run by NewHost) reports every violation at once.
type Config struct {
	// NodeID is this node's identity; it is the raft.ServerID of every
	// replica on the node. Required.
	NodeID string
	// DataDir holds the node's Pebble store (DataDir/pebble) and the Raft
	// snapshots of each group (DataDir/snapshots/<group>). Required.
	DataDir string
	// Listener accepts peer nodes' Raft traffic; the Host owns and closes it.
	// AdvertiseAddr is the address peers dial. Both required.
	Listener      net.Listener
	AdvertiseAddr string
	// Dialer connects to peers (default plain TCP). Chaos tests wrap it.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// ServerTLS and ClientTLS secure Raft traffic; nil is plain TCP
	// (development only).
	ServerTLS, ClientTLS *tls.Config
	// TransportServerOptions are added to the Raft server's options (its
	// authorization interceptors).
	TransportServerOptions []grpc.ServerOption

	// InterSiteRTT is the largest round-trip time between sites that hold
	// replicas of the same group. The raft timeouts derive from it (see
	// Timing). Default 30 ms.
	InterSiteRTT time.Duration
	// HeartbeatIntervalMin floors the heartbeat interval derived from
	// InterSiteRTT. Default 50 ms (so timeouts of 500 ms at least).
	HeartbeatIntervalMin time.Duration

	// MaxAppendEntries is the most entries in one AppendEntries and in one
	// state-machine batch (raft's limit is 1024). Default 256.
	MaxAppendEntries int
	// SnapshotInterval, SnapshotThreshold and TrailingLogs are raft's
	// snapshot knobs: check every SnapshotInterval, snapshot when more than
	// SnapshotThreshold entries are past the last snapshot, keep
	// TrailingLogs entries after it so slow followers need no snapshot.
	// Defaults 30 s, 8192, 10240.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotsRetained is how many snapshots per group stay on disk. Default 2.
	SnapshotsRetained int

	// Storage configures the node's Pebble store.
	Storage storage.Options

	// Logger receives the host's events (default slog.Default()).
	// RaftLogOutput and RaftLogLevel configure hashicorp/raft's own logger
	// (defaults os.Stderr and "warn"; levels trace, debug, info, warn, error, off).
	Logger        *slog.Logger
	RaftLogOutput io.Writer
	RaftLogLevel  string
}

// DefaultConfig returns a Config with every tunable at its default.
func DefaultConfig() Config {
	return Config{
		InterSiteRTT:         30 * time.Millisecond,
		HeartbeatIntervalMin: 50 * time.Millisecond,
		MaxAppendEntries:     256,
		SnapshotInterval:     30 * time.Second,
		SnapshotThreshold:    8192,
		TrailingLogs:         10240,
		SnapshotsRetained:    2,
		Storage:              storage.DefaultOptions(),
		RaftLogLevel:         "warn",
	}
}

var raftLogLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true, "off": true}

// Validate reports every invalid field at once, each with its value.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("replication: "+format, args...)) }
	if c.NodeID == "" {
		bad("NodeID is required")
	}
	if c.DataDir == "" {
		bad("DataDir is required")
	}
	if c.Listener == nil {
		bad("Listener is required")
	}
	if c.AdvertiseAddr == "" {
		bad("AdvertiseAddr is required")
	} else if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
		bad("AdvertiseAddr %q is not host:port", c.AdvertiseAddr)
	}
	if c.InterSiteRTT <= 0 || c.InterSiteRTT > 2*time.Second {
		bad("InterSiteRTT (%s) must be in (0, 2s]", c.InterSiteRTT)
	}
	if c.HeartbeatIntervalMin < 5*time.Millisecond {
		bad("HeartbeatIntervalMin (%s) must be at least 5ms", c.HeartbeatIntervalMin)
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		bad("MaxAppendEntries (%d) must be in [1, 1024]", c.MaxAppendEntries)
	}
	if c.SnapshotInterval < 5*time.Millisecond {
		bad("SnapshotInterval (%s) must be at least 5ms", c.SnapshotInterval)
	}
	if c.SnapshotThreshold < 1 {
		bad("SnapshotThreshold (%d) must be at least 1", c.SnapshotThreshold)
	}
	if c.SnapshotsRetained < 1 {
		bad("SnapshotsRetained (%d) must be at least 1", c.SnapshotsRetained)
	}
	if !raftLogLevels[c.RaftLogLevel] {
		bad("RaftLogLevel %q is not one of trace, debug, info, warn, error, off", c.RaftLogLevel)
	}
	if err := c.Storage.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Timing returns the timeouts derived from this configuration.
func (c Config) Timing() Timing { return DeriveTiming(c.InterSiteRTT, c.HeartbeatIntervalMin) }
