package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/cellpay/cellpay/replication/storage"
	"github.com/cellpay/cellpay/replication/transport"
)

// Host runs every Raft group (cell replica) of one node: one Pebble store,
// one gRPC transport, one hashicorp/raft instance per group.
type Host struct {
	cfg        Config
	timing     Timing
	logger     *slog.Logger
	raftLogger hclog.Logger
	db         *storage.DB
	trans      *transport.Transport
	leaders    leaderFeed

	mu     sync.Mutex
	groups map[uint64]*Group
	closed bool
}

// NewHost validates cfg, opens the node's store and starts its transport.
func NewHost(cfg Config) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RaftLogOutput == nil {
		cfg.RaftLogOutput = os.Stderr
	}
	if err := cfg.Validate(); err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	timing := cfg.Timing()
	if cfg.Storage.Logger == nil {
		cfg.Storage.Logger = pebbleLogger{cfg.Logger.With("component", "pebble", "node", cfg.NodeID)}
	}
	db, err := storage.Open(filepath.Join(cfg.DataDir, "pebble"), cfg.Storage)
	if err != nil {
		_ = cfg.Listener.Close()
		return nil, err
	}
	tcfg := transport.DefaultConfig()
	tcfg.Listener, tcfg.AdvertiseAddr, tcfg.Dialer = cfg.Listener, cfg.AdvertiseAddr, cfg.Dialer
	tcfg.ServerTLS, tcfg.ClientTLS, tcfg.ServerOptions = cfg.ServerTLS, cfg.ClientTLS, cfg.TransportServerOptions
	tcfg.RPCTimeout, tcfg.PeerDeadAfter = timing.RPCTimeout, timing.PeerDeadAfter
	tcfg.Logger = cfg.Logger
	trans, err := transport.New(tcfg)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Host{
		cfg: cfg, timing: timing, db: db, trans: trans, groups: make(map[uint64]*Group),
		logger: cfg.Logger.With("component", "replication", "node", cfg.NodeID),
		raftLogger: hclog.New(&hclog.LoggerOptions{
			Name: "raft", Level: hclog.LevelFromString(cfg.RaftLogLevel), Output: cfg.RaftLogOutput,
		}).With("node", cfg.NodeID),
	}, nil
}

// NodeID is this node's identity.
func (h *Host) NodeID() string { return h.cfg.NodeID }

// Addr is the Raft address peers use for this node.
func (h *Host) Addr() string { return h.cfg.AdvertiseAddr }

// Timing returns the derived raft timeouts.
func (h *Host) Timing() Timing { return h.timing }

// TransportStats returns the RPCs this node's transport has served.
func (h *Host) TransportStats() transport.Stats { return h.trans.Stats() }

// StartGroup starts this node's replica of group id with state machine sm.
// If the replica has no Raft state yet and peers is non-empty, the group is
// bootstrapped with peers as its initial voters (every initial replica must
// be given the same list, which must include this node). With no state and
// no peers the replica starts empty and waits for a leader to add it.
func (h *Host) StartGroup(id uint64, sm StateMachine, peers []Peer) (*Group, error) {
	if err := h.checkPeers(id, peers); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if _, ok := h.groups[id]; ok {
		return nil, fmt.Errorf("replication: group %d is already running on node %s", id, h.cfg.NodeID)
	}
	g, err := h.startGroup(id, sm, peers)
	if err != nil {
		return nil, err
	}
	h.groups[id] = g
	return g, nil
}

func (h *Host) checkPeers(id uint64, peers []Peer) error {
	var errs []error
	seenID, seenAddr, self := map[string]bool{}, map[string]bool{}, false
	for i, p := range peers {
		switch {
		case p.NodeID == "" || p.Addr == "":
			errs = append(errs, fmt.Errorf("replication: group %d: peers[%d] needs NodeID and Addr, got %+v", id, i, p))
		case seenID[p.NodeID]:
			errs = append(errs, fmt.Errorf("replication: group %d: peers[%d]: node %q listed twice", id, i, p.NodeID))
		case seenAddr[p.Addr]:
			errs = append(errs, fmt.Errorf("replication: group %d: peers[%d]: address %q listed twice", id, i, p.Addr))
		}
		seenID[p.NodeID], seenAddr[p.Addr] = true, true
		if p.NodeID == h.cfg.NodeID {
			self = true
			if p.Addr != h.cfg.AdvertiseAddr {
				errs = append(errs, fmt.Errorf("replication: group %d: peers[%d] gives this node address %q, but it advertises %q", id, i, p.Addr, h.cfg.AdvertiseAddr))
			}
		}
	}
	if len(peers) > 0 && !self {
		errs = append(errs, fmt.Errorf("replication: group %d: peers do not include this node %q", id, h.cfg.NodeID))
	}
	return errors.Join(errs...)
}

func (h *Host) startGroup(id uint64, sm StateMachine, peers []Peer) (*Group, error) {
	gid := storage.GroupID(id)
	store := h.db.Group(gid)
	snapDir := filepath.Join(h.cfg.DataDir, "snapshots", strconv.FormatUint(id, 10))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(snapDir, h.cfg.SnapshotsRetained, h.raftLogger.With("group", id))
	if err != nil {
		return nil, fmt.Errorf("replication: group %d: snapshot store: %w", id, err)
	}
	f, err := newFSM(h.db.Pebble(), gid, sm)
	if err != nil {
		return nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(h.cfg.NodeID)
	h.timing.apply(rc)
	rc.MaxAppendEntries = h.cfg.MaxAppendEntries
	rc.BatchApplyCh = true // proposals queue in batches of MaxAppendEntries: one fsync per batch
	rc.SnapshotInterval = h.cfg.SnapshotInterval
	rc.SnapshotThreshold = h.cfg.SnapshotThreshold
	rc.TrailingLogs = h.cfg.TrailingLogs
	rc.Logger = h.raftLogger.With("group", id)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("replication: group %d: raft config: %w", id, err)
	}

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("replication: group %d: reading state: %w", id, err)
	}
	gt, err := h.trans.Group(id)
	if err != nil {
		return nil, err
	}
	if !existing && len(peers) > 0 {
		var conf raft.Configuration
		for _, p := range peers {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.NodeID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, gt, conf); err != nil {
			_ = gt.Close()
			return nil, fmt.Errorf("replication: group %d: bootstrap: %w", id, err)
		}
	}
	r, err := raft.NewRaft(rc, f, store, store, snaps, gt)
	if err != nil {
		_ = gt.Close()
		return nil, fmt.Errorf("replication: group %d: start raft: %w", id, err)
	}
	g := &Group{
		id: gid, host: h, raft: r, fsm: f, timing: h.timing,
		observations: make(chan raft.Observation, 64),
		stopped:      make(chan struct{}), watchDone: make(chan struct{}),
	}
	g.reads.g = g
	g.observer = raft.NewObserver(g.observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(g.observer)
	go g.watch()
	return g, nil
}

// Group returns the running replica of group id.
func (h *Host) Group(id uint64) (*Group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.groups[id]
	if !ok {
		return nil, fmt.Errorf("%w: group %d on node %s", ErrNoGroup, id, h.cfg.NodeID)
	}
	return g, nil
}

// Groups returns the running replicas, ordered by id.
func (h *Host) Groups() []*Group {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Group, 0, len(h.groups))
	for _, g := range h.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// WatchLeaders subscribes to leader changes of every group on this node. The
// channel first carries the current leader of each running group, then
// every change; a slow reader never blocks raft and sees the newest event of
// each group. cancel ends the subscription and closes the channel.
func (h *Host) WatchLeaders() (events <-chan LeaderEvent, cancel func()) {
	groups := h.Groups()
	initial := make([]LeaderEvent, 0, len(groups))
	for _, g := range groups {
		initial = append(initial, g.leaderEvent())
	}
	return h.leaders.subscribe(initial)
}

// StopGroup shuts this node's replica of group id down (its data stays).
func (h *Host) StopGroup(ctx context.Context, id uint64) error {
	h.mu.Lock()
	g, ok := h.groups[id]
	delete(h.groups, id)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: group %d on node %s", ErrNoGroup, id, h.cfg.NodeID)
	}
	return g.stop(ctx)
}

func (g *Group) stop(ctx context.Context) error {
	g.raft.DeregisterObserver(g.observer)
	err := wait(ctx, g.raft.Shutdown())
	g.fsm.checkpoints.wait() // Digests read the store, which closes next.
	close(g.stopped)
	<-g.watchDone
	if err != nil {
		return fmt.Errorf("replication: group %d: shutdown: %w", g.id, err)
	}
	return nil
}

// TransportServiceInfo lists the services of the Raft transport's server.
func (h *Host) TransportServiceInfo() map[string]grpc.ServiceInfo { return h.trans.ServiceInfo() }

// Close stops every group, then the transport and the store.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	groups := h.groups
	h.groups = map[uint64]*Group{}
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*h.timing.ElectionTimeout)
	defer cancel()
	var errs []error
	for _, g := range groups {
		errs = append(errs, g.stop(ctx))
	}
	errs = append(errs, h.trans.Close(), h.db.Close())
	return errors.Join(errs...)
}
