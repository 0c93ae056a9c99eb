package gossip

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// testMeta is a member's changeable metadata (Config.Meta).
type testMeta struct {
	mu    sync.Mutex
	meta  *pb.MemberMeta
	calls atomic.Int64
}

func (m *testMeta) get() *pb.MemberMeta {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return proto.Clone(m.meta).(*pb.MemberMeta)
}

func (m *testMeta) set(meta *pb.MemberMeta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta = meta
}

// logBuffer collects an agent's logs; printed when the test fails (t.Log
// cannot be used: memberlist may log after the test ends).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testMember struct {
	*Agent
	meta *testMeta
	logs *logBuffer
}

// kindOf names n1, n2 nodes and r1 routers, as the members of the tests.
func kindOf(name string) string {
	if strings.HasPrefix(name, "r") {
		return "router"
	}
	return "node"
}

func testConfig(t *testing.T, name, bindAddr string, seeds ...string) (Config, *testMeta, *logBuffer) {
	t.Helper()
	meta := &testMeta{meta: &pb.MemberMeta{Kind: kindOf(name), Site: "hz-a", ClientAddr: name + ".client:9000"}}
	logs := &logBuffer{}
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = bindAddr
	cfg.Seeds = seeds
	cfg.Meta = meta.get
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg, meta, logs
}

// startMember starts a member on 127.0.0.1 at a free port; it is closed at
// the end of the test (its logs are printed if the test failed).
func startMember(t *testing.T, name string, seeds ...string) *testMember {
	t.Helper()
	cfg, meta, logs := testConfig(t, name, "127.0.0.1:0", seeds...)
	return startWith(t, cfg, meta, logs)
}

func startWith(t *testing.T, cfg Config, meta *testMeta, logs *logBuffer) *testMember {
	t.Helper()
	a, err := Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Logf("close %s: %v", cfg.Name, err)
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", cfg.Name, logs.String())
		}
	})
	return &testMember{Agent: a, meta: meta, logs: logs}
}

// startPool starts n1, then n2 and r1 seeded with n1's address.
func startPool(t *testing.T) (n1, n2, r1 *testMember) {
	t.Helper()
	n1 = startMember(t, "n1")
	n2 = startMember(t, "n2", n1.Addr())
	r1 = startMember(t, "r1", n1.Addr())
	waitFor(t, 10*time.Second, "all three see all three alive", func() string {
		for _, m := range []*testMember{n1, n2, r1} {
			if err := seesAlive(m, "n1", "n2", "r1"); err != "" {
				return err
			}
		}
		return ""
	})
	return n1, n2, r1
}

// seesAlive returns "" if m lists exactly names, all alive with their meta
// decoded, else what is wrong.
func seesAlive(m *testMember, names ...string) string {
	members := m.Members()
	if len(members) != len(names) {
		return fmt.Sprintf("%s sees %d members, want %d: %v", m.cfg.Name, len(members), len(names), members)
	}
	for i, name := range names {
		got := members[i]
		if got.Name != name || got.State != StateAlive || got.Meta == nil || got.Meta.GetKind() != kindOf(name) {
			return fmt.Sprintf("%s sees %+v, want %s alive with meta", m.cfg.Name, got, name)
		}
	}
	return ""
}

func member(a *Agent, name string) (Member, bool) {
	for _, m := range a.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// waitFor polls cond until it returns "" or timeout; then fails with the
// last complaint.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		complaint := cond()
		if complaint == "" {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %s, still not %s: %s", timeout, what, complaint)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback address whose TCP and UDP port were free a
// moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue // UDP side taken: try another port
		}
		_ = u.Close()
		return addr
	}
	t.Fatal("no free port")
	return ""
}
