package replication

import (
	"strings"
	"testing"
	"time"
)

func TestDeriveTiming(t *testing.T) {
	cases := []struct {
		rtt, floor       time.Duration
		interval, hb     time.Duration
		lease, rpc, dead time.Duration
	}{
		{30 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond, time.Second, 1500 * time.Millisecond},
		{200 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second, time.Second, 4 * time.Second, 6 * time.Second},
	}
	for _, c := range cases {
		got := DeriveTiming(c.rtt, c.floor)
		want := Timing{HeartbeatInterval: c.interval, HeartbeatTimeout: c.hb, ElectionTimeout: c.hb, LeaderLeaseTimeout: c.lease,
			CommitTimeout: c.interval, RPCTimeout: c.rpc, PeerDeadAfter: c.dead}
		if got != want {
			t.Errorf("DeriveTiming(%s, %s) = %+v, want %+v", c.rtt, c.floor, got, want)
		}
		if got.ElectionTimeout < 10*c.rtt {
			t.Errorf("election timeout %s below 10 × RTT %s", got.ElectionTimeout, c.rtt)
		}
	}
}

func TestConfigValidateReportsEveryViolation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InterSiteRTT = -time.Second
	cfg.MaxAppendEntries = 5000
	cfg.RaftLogLevel = "loud"
	cfg.Storage.CacheSizeBytes = 1
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"NodeID is required", "DataDir is required", "Listener is required", "AdvertiseAddr is required",
		"InterSiteRTT (-1s)", "MaxAppendEntries (5000)", `RaftLogLevel "loud"`, "CacheSizeBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if err := NewHostMustFail(cfg); err == nil {
		t.Fatal("NewHost accepted an invalid config")
	}
}

func NewHostMustFail(cfg Config) error {
	_, err := NewHost(cfg)
	return err
}

func TestStartGroupRejectsBadPeers(t *testing.T) {
	c := newTestCluster(t, 1, nil, nil)
	h := c.nodes[0].host
	_, err := h.StartGroup(1, &counterSM{}, []Peer{{NodeID: "n2", Addr: "127.0.0.1:1"}, {NodeID: "n2", Addr: "127.0.0.1:2"}, {NodeID: "", Addr: "x"}})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`node "n2" listed twice`, "peers[2] needs NodeID and Addr", `do not include this node "n1"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := h.Group(1); err == nil {
		t.Fatal("a rejected group is running")
	}
}
