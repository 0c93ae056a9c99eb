package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Memberlist settings that are not in Config, with why.
const (
	// gossipNodes: members each gossip round goes to (memberlist's LAN
	// value): with GossipInterval 100ms a change reaches a pool of tens of
	// members in a few rounds.
	gossipNodes = 3
	// retransmitMult: each gossiped message is sent retransmitMult *
	// ceil(log10(members+1)) times (memberlist's value).
	retransmitMult = 4
	// suspicionMaxTimeoutMult bounds a suspicion that other members do not
	// confirm (an observer alone behind a bad link) to this multiple of the
	// base suspicion timeout (memberlist's value).
	suspicionMaxTimeoutMult = 6
)

// Agent is this process's member of the gossip pool.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	ml     *memberlist.Memberlist
	view   *view
	del    *delegate
	addr   string

	// updateRequests holds at most one pending UpdateMeta: requests made
	// while one is pending or in flight coalesce into it.
	updateRequests chan struct{}
	stop           chan struct{}
	stopCtx        context.Context // done when stop is closed
	cancelStopCtx  context.CancelFunc
	wg             sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, creates the memberlist bound to cfg.BindAddr and
// joins the seeds. Seeds that cannot be reached are not an error: the rejoin
// loop keeps trying every RejoinInterval. Start blocks at most about
// TCPTimeout per unreachable seed.
func Start(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	cfg.SecretKeys = slices.Clone(cfg.SecretKeys)
	logger := cfg.Logger.With("component", "gossip", "member", cfg.Name)
	if cfg.Admit != nil {
		// Others run the same check on this member: say so here, where
		// the misconfiguration is, rather than only in their logs.
		if err := cfg.Admit(cfg.Name, cfg.Meta()); err != nil {
			logger.Error("gossip: this member's own meta is not admitted; members with the same Admit will refuse it", "reason", err)
		}
	}

	v := newView(cfg.GossipToTheDeadTime, time.Now)
	d := &delegate{
		name:      cfg.Name,
		meta:      cfg.Meta,
		view:      v,
		logger:    logger,
		admission: newAdmission(cfg, logger),
		broadcasts: &memberlist.TransmitLimitedQueue{
			NumNodes:       v.count,
			RetransmitMult: retransmitMult,
		},
	}
	mc := memberlistConfig(cfg, d, logger, v)
	if len(cfg.SecretKeys) > 0 {
		// Validate checked the keys; memberlist encrypts with the primary
		// and tries every key to decrypt. GossipVerifyIncoming and
		// GossipVerifyOutgoing (true in memberlist's defaults) make it
		// refuse unencrypted messages and never send one.
		keyring, err := memberlist.NewKeyring(cfg.SecretKeys, cfg.SecretKeys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip: start member %q: keyring: %w", cfg.Name, err)
		}
		mc.Keyring = keyring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	if cfg.Dialer != nil || cfg.WrapPacketConn != nil {
		t, err := newTransport(cfg, logger)
		if err != nil {
			return nil, fmt.Errorf("gossip: start member %q: %w", cfg.Name, err)
		}
		mc.Transport = t
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if mc.Transport != nil {
			_ = mc.Transport.Shutdown() // Create failed after the bind; the error says why.
		}
		return nil, fmt.Errorf("gossip: start member %q on %s: %w", cfg.Name, cfg.BindAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg:            cfg,
		logger:         logger,
		ml:             ml,
		view:           v,
		del:            d,
		addr:           ml.LocalNode().Address(),
		updateRequests: make(chan struct{}, 1),
		stop:           make(chan struct{}),
		stopCtx:        ctx,
		cancelStopCtx:  cancel,
	}
	logger.Info("gossip: started", "addr", a.addr, "seeds", cfg.Seeds,
		"encrypted", len(cfg.SecretKeys) > 0, "keys", len(cfg.SecretKeys), "admission", cfg.Admit != nil)
	if len(cfg.SecretKeys) == 0 {
		logger.Warn("gossip: no SecretKeys: gossip is unencrypted and unauthenticated; any process that reaches the gossip port can join")
	}

	seedsFailing := make(map[string]bool)
	a.joinMissingSeeds(seedsFailing)
	a.wg.Go(a.runUpdates)
	a.wg.Go(func() { a.runMaintenance(seedsFailing) })
	return a, nil
}

func memberlistConfig(cfg Config, d *delegate, logger *slog.Logger, v *view) *memberlist.Config {
	host, portText, _ := net.SplitHostPort(cfg.BindAddr) // Validate checked it
	port, _ := strconv.Atoi(portText)

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = "", port // port 0: memberlist sets both to the port it got
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.GossipInterval = cfg.GossipInterval
	mc.PushPullInterval = cfg.PushPullInterval
	mc.TCPTimeout = cfg.TCPTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = suspicionMaxTimeoutMult
	mc.GossipNodes = gossipNodes
	mc.RetransmitMult = retransmitMult
	mc.GossipToTheDeadTime = cfg.GossipToTheDeadTime
	mc.Delegate, mc.Events, mc.Ping = d, d, d
	mc.Alive, mc.Merge = d, d // admission; they admit everyone without Config.Admit
	mc.Logger = newMemberlistLogger(logger, v.suspect)
	return mc
}

// Addr is the address this member gossips on, ip:port (the actual port when
// BindAddr had port 0). Other members use it as a seed.
func (a *Agent) Addr() string { return a.addr }

// UpdateMeta re-reads Config.Meta and gossips it. It never blocks: at most
// one update is in flight (memberlist's UpdateNode, bounded by
// UpdateTimeout) and requests made meanwhile coalesce into one trailing
// update, which reads Meta afresh. A no-op after Close.
func (a *Agent) UpdateMeta() {
	select {
	case a.updateRequests <- struct{}{}:
	default: // one is already pending and will read the newest meta
	}
}

func (a *Agent) runUpdates() {
	for {
		select {
		case <-a.stop:
			return
		case <-a.updateRequests:
		}
		// A timeout leaves the update queued in memberlist: it still goes out.
		if err := a.ml.UpdateNode(a.cfg.UpdateTimeout); err != nil {
			a.logger.Warn("gossip: meta update not sent in time", "timeout", a.cfg.UpdateTimeout, "error", err)
		}
	}
}

// Members returns every member this agent knows, itself included, sorted by
// name. Dead and left members stay listed for GossipToTheDeadTime.
func (a *Agent) Members() []Member { return a.view.snapshot() }

// Refused counts the alive messages Config.Admit refused (a refused member
// repeats its own every gossip round and state sync, so this counts
// messages, not members).
func (a *Agent) Refused() uint64 { return a.del.admission.refused.Load() }

// Changes returns a channel that receives (capacity 1, never blocking the
// sender) whenever a member joins, changes meta or state, or is reaped.
// Signals coalesce: on a receive, read Members.
func (a *Agent) Changes() <-chan struct{} { return a.view.changes }

// Close leaves the pool gracefully (other members see this member "left";
// the wait is bounded by LeaveTimeout) and shuts memberlist down. It stops
// every goroutine of the agent. Safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.shutdown(true) })
	return a.closeErr
}

// closeWithoutLeave stops the agent as a crash would: no leave message,
// so other members must detect the failure. For tests.
func (a *Agent) closeWithoutLeave() error {
	a.closeOnce.Do(func() { a.closeErr = a.shutdown(false) })
	return a.closeErr
}

func (a *Agent) shutdown(leave bool) error {
	close(a.stop)
	a.cancelStopCtx()
	// Bounded: an update in flight waits at most UpdateTimeout, a join at
	// most about TCPTimeout.
	a.wg.Wait()
	var errs []error
	if leave {
		a.announceLeave()
		if err := a.ml.Leave(a.cfg.LeaveTimeout); err != nil {
			errs = append(errs, fmt.Errorf("gossip: leave: %w", err))
		}
	}
	if err := a.ml.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("gossip: shutdown: %w", err))
	}
	a.logger.Info("gossip: stopped", "left", leave)
	return errors.Join(errs...)
}

// announceLeave tells every member this one is leaving, so that they record
// its coming death as "left": by gossip, which Leave then waits for. (Not
// also by direct packets: memberlist's user-message send reads the node
// records that its packet handler updates, without a lock — a data race
// inside memberlist v0.7.0 that the race detector reports.)
func (a *Agent) announceLeave() {
	a.del.broadcasts.QueueBroadcast(leaveBroadcast(leaveNotice(a.cfg.Name)))
}
