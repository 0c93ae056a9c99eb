package cell

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// Bounds of the single-node helpers: a lone replica elects itself within a
// few election timeouts, and one proposal commits in milliseconds, so these
// only fire when something is stuck.
const (
	leaderWaitMax   = 20 * time.Second
	applyTimeoutMax = 10 * time.Second
)

// ledgerGroup is what the ledger tests need of a cell's group: the
// in-memory twin (newTwin: the ledger over an in-memory store, no Raft) or
// a real group (newSingleHost: through Raft on one node).
type ledgerGroup interface {
	Apply(ctx context.Context, data []byte) (any, error)
	Reader() replication.Reader
}

var (
	_ ledgerGroup = (*replication.Group)(nil)
	_ ledgerGroup = (*replicationtest.Twin)(nil)
)

// newTwin runs the ledger as group 1 of an in-memory twin: the production
// state machine and store, no Raft and no network. It closes with the test.
func newTwin(t testing.TB, opts ...replicationtest.Option) *replicationtest.Twin {
	t.Helper()
	return replicationtest.New(t, Ledger{}, opts...)
}

// newSingleHost starts a one-node replication host running the ledger as
// group 1 and returns the host and the group once it leads. The host
// closes with the test. For tests that need a Host (a Service, a relay,
// metrics); the ledger alone runs on newTwin.
func newSingleHost(t testing.TB) (*replication.Host, *replication.Group) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Listener, cfg.AdvertiseAddr = "n1", t.TempDir(), ln, addr
	cfg.RaftLogOutput = io.Discard
	cfg.HeartbeatIntervalMin = 20 * time.Millisecond
	cfg.Storage.CacheSizeBytes = 8 << 20
	cfg.Storage.MemTableSizeBytes = 4 << 20
	host, err := replication.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := host.Close(); err != nil {
			t.Errorf("closing the host: %v", err)
		}
	})
	g, err := host.StartGroup(1, Ledger{}, []replication.Peer{{NodeID: "n1", Addr: addr}})
	if err != nil {
		t.Fatal(err)
	}
	replicationtest.Eventually(t, leaderWaitMax, g.IsLeader, "the single node to lead")
	return host, g
}

// newRand is the tests' seeded source: a failure replays with its seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// applyData proposes raw bytes and returns the ledger's answer.
func applyData(t testing.TB, g ledgerGroup, data []byte) Applied {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
	defer cancel()
	out, err := g.Apply(ctx, data)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	a, ok := out.(Applied)
	if !ok {
		t.Fatalf("apply returned %T, want cell.Applied", out)
	}
	if a.Result == nil {
		t.Fatalf("apply returned a nil result")
	}
	return a
}

// apply marshals cmd and applies it (through Raft on a real group).
func apply(t testing.TB, g ledgerGroup, cmd *pb.Command) Applied {
	t.Helper()
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return applyData(t, g, data)
}

// Command builders. ts is the leader's timestamp (Unix ms) the test stamps.

func createCmd(ts int64, key, account, currency string, allowNegative bool) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_CreateAccount{CreateAccount: &pb.CreateAccount{
		IdempotencyKey: key, AccountId: account, Currency: currency, AllowNegativeBalance: allowNegative,
	}}}
}

func depositCmd(ts int64, key, account string, amountMinor int64, currency string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_Deposit{Deposit: &pb.Deposit{
		IdempotencyKey: key, AccountId: account, AmountMinor: amountMinor, Currency: currency, ExternalRef: "ref-" + key,
	}}}
}

func transferCmd(ts int64, id, from, to string, amountMinor int64, currency string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_Transfer{Transfer: &pb.Transfer{
		TransferId: id, FromAccountId: from, ToAccountId: to, AmountMinor: amountMinor, Currency: currency,
	}}}
}

// withRetention sets the command's idempotency retention.
func withRetention(cmd *pb.Command, retentionMs int64) *pb.Command {
	cmd.IdempotencyRetentionMs = retentionMs
	return cmd
}

// mustSucceed fails the test unless the command succeeded.
func mustSucceed(t testing.TB, g ledgerGroup, cmd *pb.Command) *pb.CommandResult {
	t.Helper()
	a := apply(t, g, cmd)
	if e := a.Result.GetError(); e != nil {
		t.Fatalf("command %v failed: %v %s (field %q)", cmd, e.GetReason(), e.GetMessage(), e.GetField())
	}
	return a.Result
}

// mustFail fails the test unless the command failed with reason, and
// returns the error.
func mustFail(t testing.TB, g ledgerGroup, cmd *pb.Command, reason pb.ErrorReason) *pb.LedgerError {
	t.Helper()
	a := apply(t, g, cmd)
	return wantError(t, a, reason)
}

func wantError(t testing.TB, a Applied, reason pb.ErrorReason) *pb.LedgerError {
	t.Helper()
	e := a.Result.GetError()
	if e == nil {
		t.Fatalf("got success %v, want error %v", a.Result, reason)
	}
	if e.GetReason() != reason {
		t.Fatalf("got error %v (%s, field %q), want %v", e.GetReason(), e.GetMessage(), e.GetField(), reason)
	}
	return e
}

// account reads an account that must exist.
func account(t testing.TB, g ledgerGroup, id string) *pb.Account {
	t.Helper()
	acc, err := GetAccount(g.Reader(), id)
	if err != nil {
		t.Fatalf("GetAccount(%q): %v", id, err)
	}
	return acc
}

// stateHash hashes every key and value of the cell's state except keys
// starting with one of skipPrefixes (the applied index, which every
// proposal advances, is not state): equal hashes mean a command changed
// nothing. ledgerHash skips the idempotency records (and their expiry
// entries), which a failed business command does store.
func stateHash(t testing.TB, g ledgerGroup, skipPrefixes ...string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := g.Reader().Scan(nil, nil, func(k, v []byte) bool {
		for _, p := range skipPrefixes {
			if bytes.HasPrefix(k, []byte(p)) {
				return true
			}
		}
		h.Write(binary.AppendUvarint(nil, uint64(len(k))))
		h.Write(k)
		h.Write(binary.AppendUvarint(nil, uint64(len(v))))
		h.Write(v)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func ledgerHash(t testing.TB, g ledgerGroup) [32]byte {
	t.Helper()
	return stateHash(t, g, "i/", "x/") // the stored answer and its expiry entry
}

// requireConserved fails unless balances equal deposits in every currency.
func requireConserved(t testing.TB, g ledgerGroup) Totals {
	t.Helper()
	totals, err := ReadTotals(g.Reader())
	if err != nil {
		t.Fatalf("ReadTotals: %v", err)
	}
	if ok, bad := totals.Conserved(); !ok {
		t.Fatalf("money is not conserved: %v", bad)
	}
	return totals
}

// asInputError unwraps err into an *InputError or fails the test.
func asInputError(t testing.TB, err error) *InputError {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InputError", err, err)
	}
	return ie
}
