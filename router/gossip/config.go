package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// ErrInvalidConfig marks the error of Validate (and of Start with a bad
// Config); check it with errors.Is.
var ErrInvalidConfig = errors.New("gossip: invalid config")

// nameBytesMax bounds Config.Name: the name travels in every memberlist
// message about this member and in our leave notice.
const nameBytesMax = 255

// Config configures one member of the gossip pool. Start from
// DefaultConfig and set Name, BindAddr, Seeds and Meta. The timing defaults
// are tuned for a WAN of about 30 ms RTT where a dead member must be noticed
// in about 2 s (see doc.go); memberlist's own WAN preset takes 35-40 s.
type Config struct {
	// Name is the unique member name: the node id or the router id.
	// Required, at most 255 bytes.
	Name string
	// BindAddr is the ip:port memberlist binds, TCP and UDP on the same port.
	// The host must be an IP literal; port 0 picks a free port (tests), see
	// Agent.Addr. Prefer a specific IP to 0.0.0.0: with 0.0.0.0 memberlist
	// advertises a private IP of its own choosing. Required.
	BindAddr string
	// Seeds are host:port addresses of members to join. Empty for the first
	// member. Listing this member's own address is harmless (it is skipped).
	Seeds []string
	// Meta returns this member's metadata. It is called whenever memberlist
	// asks (at start and on every UpdateMeta) from memberlist's goroutines,
	// so it must be fast and safe for concurrent use, and must not call the
	// Agent. Put the most important LeaderClaims first: claims are dropped
	// from the end when the encoding exceeds memberlist.MetaMaxSize (512
	// bytes). Required.
	Meta func() *pb.MemberMeta

	// ProbeInterval is the time between two failure probes of this member
	// (one random member per probe). Default 300ms.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before the
	// indirect probes start; about the 99th percentile RTT, and less than
	// ProbeInterval. Default 150ms (5x a 30 ms RTT).
	ProbeTimeout time.Duration
	// GossipInterval is the time between gossip rounds (meta changes,
	// suspicions, deaths) to 3 random members. Default 100ms.
	GossipInterval time.Duration
	// PushPullInterval is the time between full state syncs with one random
	// member over TCP; it repairs what gossip missed. Default 10s.
	PushPullInterval time.Duration
	// TCPTimeout bounds a TCP connect and each read or write of a state sync
	// or join. Default 2s.
	TCPTimeout time.Duration
	// SuspicionMult scales how long a member stays suspect before it is
	// declared dead: SuspicionMult * max(1, log10(members)) * ProbeInterval,
	// shortened by confirmations of other members. Default 4 (1.2 s).
	SuspicionMult int
	// RejoinInterval is how often the seeds that are not known alive members
	// are joined again, so that a member started before its seeds, or cut
	// off from them longer than GossipToTheDeadTime, still converges.
	// Default 1s.
	RejoinInterval time.Duration
	// GossipToTheDeadTime is how long a dead or left member stays listed
	// (and gossiped to, so that it can refute a false death) before it is
	// reaped. Default 30s.
	GossipToTheDeadTime time.Duration
	// LeaveTimeout bounds Close's wait for the leave message to go out.
	// Default 1s.
	LeaveTimeout time.Duration
	// UpdateTimeout bounds UpdateMeta's wait for one update to go out before
	// the next one is sent. Default 1s.
	UpdateTimeout time.Duration
	// Dialer, if set, makes every stream of gossip (joins, state syncs, TCP
	// fallback probes) to another member: e.g. through a fault-injecting
	// network in tests, or a proxy. Default: a plain TCP dial.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// WrapPacketConn, if set, wraps the UDP socket every gossip datagram
	// (probes, acks, gossip) is sent through. With Dialer it lets a test's
	// fabric cut gossip like any other traffic. When both are nil,
	// memberlist's own transport is used.
	WrapPacketConn func(net.PacketConn) net.PacketConn
	// Logger receives this package's logs and, at debug level, memberlist's
	// own. Default (and when nil) slog.Default().
	Logger *slog.Logger

	// SecretKeys is the gossip keyring: every message (probes, gossip,
	// joins, state syncs) is encrypted and authenticated with AES-GCM under
	// SecretKeys[0], and messages under any of the keys are accepted, so
	// keys can be rotated (add the new key second everywhere, then make it
	// first everywhere, then drop the old one). Each key is 16, 24 or 32
	// bytes (AES-128, -192, -256); at most SecretKeysMax keys. A member
	// without a key of the pool can neither join nor be heard. Empty (the
	// default): gossip is neither encrypted nor authenticated, as before
	// keys existed; only for --insecure, which the caller decides. See
	// LoadKeyFile.
	SecretKeys [][]byte
	// Admit, if set, decides which members are believed: it is asked about
	// every other member whenever memberlist hears that it is alive (a
	// join, a meta update, a refutation, a state sync), with the member's
	// decoded meta (nil when it advertises none or it does not decode). A
	// member refused is not added (or, if already known, keeps its last
	// admitted meta): it never appears in Members. Each refusal is logged
	// (at most once per member per refusalLogInterval) and reported to
	// OnRefuse. It is called with memberlist's node lock held: it must be
	// fast, safe for concurrent use, and must not call the Agent. Default
	// nil: every member is believed. See AdmitTopology.
	Admit func(name string, meta *pb.MemberMeta) error
	// OnRefuse, if set, is called on every refusal by Admit (e.g. to count
	// it), under the same constraints as Admit.
	OnRefuse func(name string, reason error)
}

// DefaultConfig returns a Config with every timing field set to its
// default; Name, BindAddr, Seeds and Meta are left to the caller.
func DefaultConfig() Config {
	return Config{
		ProbeInterval:       300 * time.Millisecond,
		ProbeTimeout:        150 * time.Millisecond,
		GossipInterval:      100 * time.Millisecond,
		PushPullInterval:    10 * time.Second,
		TCPTimeout:          2 * time.Second,
		SuspicionMult:       4,
		RejoinInterval:      time.Second,
		GossipToTheDeadTime: 30 * time.Second,
		LeaveTimeout:        time.Second,
		UpdateTimeout:       time.Second,
		Logger:              slog.Default(),
	}
}

// Validate reports every violation at once, each naming the field and its
// value. The error matches ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case c.Name == "":
		bad("Name is required")
	case len(c.Name) > nameBytesMax:
		bad("Name (%d bytes) is longer than %d bytes", len(c.Name), nameBytesMax)
	}
	if c.BindAddr == "" {
		bad("BindAddr is required")
	} else if err := checkBindAddr(c.BindAddr); err != nil {
		bad("BindAddr (%q): %v", c.BindAddr, err)
	}
	for i, seed := range c.Seeds {
		if err := checkSeed(seed); err != nil {
			bad("Seeds[%d] (%q): %v", i, seed, err)
		}
	}
	if c.Meta == nil {
		bad("Meta is required")
	}

	positive := []struct {
		name  string
		value time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval},
		{"PushPullInterval", c.PushPullInterval},
		{"TCPTimeout", c.TCPTimeout},
		{"RejoinInterval", c.RejoinInterval},
		{"GossipToTheDeadTime", c.GossipToTheDeadTime},
		{"LeaveTimeout", c.LeaveTimeout},
		{"UpdateTimeout", c.UpdateTimeout},
	}
	for _, p := range positive {
		if p.value <= 0 {
			bad("%s (%s) must be positive", p.name, p.value)
		}
	}
	if c.ProbeTimeout > 0 && c.ProbeInterval > 0 && c.ProbeTimeout >= c.ProbeInterval {
		// The indirect probes and the TCP fallback run in the rest of the
		// interval; without it a slow ack is a suspicion at once.
		bad("ProbeTimeout (%s) must be less than ProbeInterval (%s)", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.SuspicionMult < 1 {
		bad("SuspicionMult (%d) must be at least 1", c.SuspicionMult)
	}
	if len(c.SecretKeys) > SecretKeysMax {
		bad("SecretKeys has %d keys, more than %d", len(c.SecretKeys), SecretKeysMax)
	}
	for i, key := range c.SecretKeys {
		if err := checkKey(key); err != nil {
			bad("SecretKeys[%d]: %v", i, err)
		}
		for j := range i {
			if bytes.Equal(key, c.SecretKeys[j]) {
				bad("SecretKeys[%d] repeats SecretKeys[%d]", i, j)
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(append([]error{ErrInvalidConfig}, errs...)...)
}

// checkBindAddr accepts ip:port with an IP literal and a port in 0-65535.
func checkBindAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if net.ParseIP(host) == nil {
		return errors.New("host must be an IP literal")
	}
	if _, err := parsePort(port, true); err != nil {
		return err
	}
	return nil
}

// checkSeed accepts host:port with a non-empty host and a port in 1-65535.
func checkSeed(seed string) error {
	host, port, err := net.SplitHostPort(seed)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("host is empty")
	}
	if _, err := parsePort(port, false); err != nil {
		return err
	}
	return nil
}

func parsePort(s string, zeroAllowed bool) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if port < 0 || port > 65535 || (port == 0 && !zeroAllowed) {
		return 0, fmt.Errorf("port %d is out of range", port)
	}
	return port, nil
}
