package cell

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

const (
	reasonInvalid      = pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT
	reasonInsufficient = pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS
	reasonCurrency     = pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH
	reasonNotFound     = pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND
	reasonExists       = pb.ErrorReason_ERROR_REASON_ACCOUNT_EXISTS
	reasonNotPositive  = pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE
	reasonOverflow     = pb.ErrorReason_ERROR_REASON_OVERFLOW
	reasonKeyReused    = pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED
	reasonSameAccount  = pb.ErrorReason_ERROR_REASON_SAME_ACCOUNT
)

func requireEqual(t testing.TB, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func TestCreateAccount(t *testing.T) {
	g := newTwin(t)

	res := mustSucceed(t, g, createCmd(1_000, "ca-1", "alice", "USD", false))
	want := &pb.Account{Id: "alice", Currency: "USD", BalanceMinor: 0, Version: 1, CreatedAtUnixMs: 1_000}
	requireEqual(t, "created account", res.GetAccount(), want)
	requireEqual(t, "stored account", account(t, g, "alice"), want)

	res = mustSucceed(t, g, createCmd(1_500, "ca-2", "overdraft", "EUR", true))
	requireEqual(t, "created account with negative balance allowed", res.GetAccount(),
		&pb.Account{Id: "overdraft", Currency: "EUR", AllowNegativeBalance: true, Version: 1, CreatedAtUnixMs: 1_500})

	before := ledgerHash(t, g)
	e := mustFail(t, g, createCmd(2_000, "ca-3", "alice", "EUR", true), reasonExists)
	if e.GetField() != "account_id" || !strings.Contains(e.GetMessage(), `"alice"`) {
		t.Errorf("ACCOUNT_EXISTS names field %q, message %q; want account_id and the account", e.GetField(), e.GetMessage())
	}
	if ledgerHash(t, g) != before {
		t.Error("a refused second create changed the ledger")
	}
	requireEqual(t, "account after a refused second create", account(t, g, "alice"), want)
}

func TestDeposit(t *testing.T) {
	g := newTwin(t)
	mustSucceed(t, g, createCmd(1, "ca-alice", "alice", "USD", false))
	mustSucceed(t, g, createCmd(2, "ca-bob", "bob", "EUR", false))

	res := mustSucceed(t, g, depositCmd(3_000, "dep-1", "alice", 500, "USD"))
	requireEqual(t, "deposit record", res.GetDeposit(), &pb.DepositRecord{
		IdempotencyKey: "dep-1", AccountId: "alice", AmountMinor: 500, Currency: "USD", ExternalRef: "ref-dep-1",
		BalanceAfterMinor: 500, CreatedAtUnixMs: 3_000,
	})
	res = mustSucceed(t, g, depositCmd(3_001, "dep-2", "alice", 250, "USD"))
	if got := res.GetDeposit().GetBalanceAfterMinor(); got != 750 {
		t.Errorf("second deposit's balance_after = %d, want 750", got)
	}
	acc := account(t, g, "alice")
	if acc.GetBalanceMinor() != 750 || acc.GetVersion() != 3 {
		t.Fatalf("after two deposits alice has balance %d version %d, want 750 and 3", acc.GetBalanceMinor(), acc.GetVersion())
	}
	if totals := requireConserved(t, g); totals.Deposited["USD"] != 750 {
		t.Errorf("deposited USD = %d, want 750", totals.Deposited["USD"])
	}

	for _, tc := range []struct {
		name   string
		cmd    *pb.Command
		reason pb.ErrorReason
		field  string
	}{
		{"zero amount", depositCmd(4_000, "dep-zero", "alice", 0, "USD"), reasonNotPositive, "amount_minor"},
		{"negative amount", depositCmd(4_000, "dep-neg", "alice", -5, "USD"), reasonNotPositive, "amount_minor"},
		{"most negative amount", depositCmd(4_000, "dep-min", "alice", math.MinInt64, "USD"), reasonNotPositive, "amount_minor"},
		{"unknown account", depositCmd(4_000, "dep-nobody", "nobody", 5, "USD"), reasonNotFound, "account_id"},
		{"currency mismatch", depositCmd(4_000, "dep-eur", "alice", 5, "EUR"), reasonCurrency, "currency"},
		{"currency mismatch other way", depositCmd(4_000, "dep-usd", "bob", 5, "USD"), reasonCurrency, "currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ledgerHash(t, g)
			e := mustFail(t, g, tc.cmd, tc.reason)
			if e.GetField() != tc.field {
				t.Errorf("field = %q, want %q", e.GetField(), tc.field)
			}
			if ledgerHash(t, g) != before {
				t.Error("a failed deposit changed the ledger")
			}
		})
	}

	t.Run("overflow", func(t *testing.T) {
		// JPY: a currency nothing else here deposits, so the cell's JPY
		// total starts at zero.
		mustSucceed(t, g, createCmd(5_000, "ca-rich", "rich", "JPY", false))
		mustSucceed(t, g, createCmd(5_000, "ca-other", "other", "JPY", false))
		mustSucceed(t, g, depositCmd(5_001, "dep-max", "rich", math.MaxInt64, "JPY"))
		rich := account(t, g, "rich")
		before := ledgerHash(t, g)

		e := mustFail(t, g, depositCmd(5_002, "dep-one-more", "rich", 1, "JPY"), reasonOverflow)
		if !strings.Contains(e.GetMessage(), `"rich"`) {
			t.Errorf("balance overflow message %q does not name the account", e.GetMessage())
		}
		// The account itself has room, but the cell's JPY total does not.
		e = mustFail(t, g, depositCmd(5_003, "dep-other", "other", 1, "JPY"), reasonOverflow)
		if !strings.Contains(e.GetMessage(), "total deposits") {
			t.Errorf("total overflow message %q does not say which total", e.GetMessage())
		}
		if ledgerHash(t, g) != before {
			t.Error("an overflowing deposit changed the ledger")
		}
		requireEqual(t, "account after an overflowing deposit", account(t, g, "rich"), rich)
		requireConserved(t, g)
	})
}

func TestTransfer(t *testing.T) {
	g := newTwin(t)
	for _, c := range []*pb.Command{
		createCmd(1, "ca-alice", "alice", "USD", false),
		createCmd(1, "ca-bob", "bob", "USD", false),
		createCmd(1, "ca-credit", "credit", "USD", true),
		createCmd(1, "ca-euro", "euro", "EUR", false),
		depositCmd(2, "dep-alice", "alice", 1_000, "USD"),
		depositCmd(2, "dep-euro", "euro", 1_000, "EUR"),
	} {
		mustSucceed(t, g, c)
	}

	t.Run("success", func(t *testing.T) {
		res := mustSucceed(t, g, transferCmd(10_000, "tr-1", "alice", "bob", 300, "USD"))
		want := &pb.TransferRecord{
			TransferId: "tr-1", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 300, Currency: "USD",
			State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: 10_000,
			FromBalanceAfterMinor: 700, ToBalanceAfterMinor: 300,
		}
		requireEqual(t, "transfer record", res.GetTransfer(), want)
		stored, err := GetTransfer(g.Reader(), "alice", "tr-1")
		if err != nil {
			t.Fatal(err)
		}
		requireEqual(t, "stored transfer", stored, want)
		alice, bob := account(t, g, "alice"), account(t, g, "bob")
		if alice.GetBalanceMinor() != 700 || alice.GetVersion() != 3 {
			t.Errorf("alice: balance %d version %d, want 700 and 3", alice.GetBalanceMinor(), alice.GetVersion())
		}
		if bob.GetBalanceMinor() != 300 || bob.GetVersion() != 2 {
			t.Errorf("bob: balance %d version %d, want 300 and 2", bob.GetBalanceMinor(), bob.GetVersion())
		}
		requireConserved(t, g)
	})

	t.Run("negative balance allowed", func(t *testing.T) {
		res := mustSucceed(t, g, transferCmd(10_001, "tr-credit", "credit", "bob", 5_000, "USD"))
		if got := res.GetTransfer().GetFromBalanceAfterMinor(); got != -5_000 {
			t.Errorf("from_balance_after = %d, want -5000", got)
		}
		if got := account(t, g, "credit").GetBalanceMinor(); got != -5_000 {
			t.Errorf("credit balance = %d, want -5000", got)
		}
		requireConserved(t, g)
	})

	for _, tc := range []struct {
		name   string
		cmd    *pb.Command
		reason pb.ErrorReason
		field  string
	}{
		{"insufficient funds", transferCmd(11_000, "tr-poor", "alice", "bob", 701, "USD"), reasonInsufficient, "amount_minor"},
		{"zero amount", transferCmd(11_000, "tr-zero", "alice", "bob", 0, "USD"), reasonNotPositive, "amount_minor"},
		{"negative amount", transferCmd(11_000, "tr-neg", "bob", "alice", -10, "USD"), reasonNotPositive, "amount_minor"},
		{"same account", transferCmd(11_000, "tr-self", "alice", "alice", 1, "USD"), reasonSameAccount, "to_account_id"},
		{"payer not found", transferCmd(11_000, "tr-nofrom", "ghost", "bob", 1, "USD"), reasonNotFound, "from_account_id"},
		{"payee not found", transferCmd(11_000, "tr-noto", "alice", "ghost", 1, "USD"), reasonNotFound, "to_account_id"},
		{"payee in another currency", transferCmd(11_000, "tr-x1", "alice", "euro", 1, "USD"), reasonCurrency, "currency"},
		{"payer in another currency", transferCmd(11_000, "tr-x2", "euro", "alice", 1, "EUR"), reasonCurrency, "currency"},
		{"transfer currency unlike both", transferCmd(11_000, "tr-x3", "alice", "bob", 1, "GBP"), reasonCurrency, "currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ledgerHash(t, g)
			e := mustFail(t, g, tc.cmd, tc.reason)
			if e.GetField() != tc.field {
				t.Errorf("field = %q, want %q", e.GetField(), tc.field)
			}
			if ledgerHash(t, g) != before {
				t.Error("a failed transfer changed the ledger")
			}
			id := tc.cmd.GetTransfer().GetTransferId()
			if _, err := GetTransfer(g.Reader(), tc.cmd.GetTransfer().GetFromAccountId(), id); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetTransfer(%q) after a failed transfer: %v, want ErrNotFound", id, err)
			}
		})
	}

	t.Run("overflow", func(t *testing.T) {
		mustSucceed(t, g, createCmd(12_000, "ca-big", "big", "GBP", false))
		mustSucceed(t, g, createCmd(12_000, "ca-debtor", "debtor", "GBP", true))
		mustSucceed(t, g, createCmd(12_000, "ca-small", "small", "GBP", false))
		mustSucceed(t, g, depositCmd(12_001, "dep-big", "big", math.MaxInt64, "GBP"))
		before := ledgerHash(t, g)
		e := mustFail(t, g, transferCmd(12_002, "tr-ovf-to", "debtor", "big", 1, "GBP"), reasonOverflow)
		if !strings.Contains(e.GetMessage(), `"big"`) {
			t.Errorf("payee overflow message %q does not name the payee", e.GetMessage())
		}
		if ledgerHash(t, g) != before {
			t.Fatal("a transfer overflowing its payee changed the ledger")
		}
		// The debtor may go down to MinInt64 and no further.
		mustSucceed(t, g, createCmd(12_003, "ca-small2", "small2", "GBP", false))
		mustSucceed(t, g, transferCmd(12_003, "tr-deep", "debtor", "small", math.MaxInt64, "GBP"))
		mustSucceed(t, g, transferCmd(12_004, "tr-deeper", "debtor", "small2", 1, "GBP"))
		if got := account(t, g, "debtor").GetBalanceMinor(); got != math.MinInt64 {
			t.Fatalf("debtor balance %d, want MinInt64", got)
		}
		before = ledgerHash(t, g)
		e = mustFail(t, g, transferCmd(12_005, "tr-ovf-from", "debtor", "small2", 1, "GBP"), reasonOverflow)
		if !strings.Contains(e.GetMessage(), `"debtor"`) {
			t.Errorf("payer overflow message %q does not name the payer", e.GetMessage())
		}
		if ledgerHash(t, g) != before {
			t.Fatal("a transfer overflowing its payer changed the ledger")
		}
		requireConserved(t, g)
	})
}

// TestIdempotency anchors the semantics of Stripe's idempotency keys and
// TigerBeetle's transfer ids: a key runs once, its first result (success
// or business failure) is replayed, and a key reused for something else is
// refused.
func TestIdempotency(t *testing.T) {
	g := newTwin(t)
	for _, c := range []*pb.Command{
		createCmd(1, "ca-alice", "alice", "USD", false),
		createCmd(1, "ca-bob", "bob", "USD", false),
		createCmd(1, "ca-carol", "carol", "USD", false),
		depositCmd(2, "dep-alice", "alice", 10_000, "USD"),
	} {
		mustSucceed(t, g, c)
	}

	t.Run("same key same parameters replays", func(t *testing.T) {
		for _, cmds := range [][2]*pb.Command{
			// The retry carries a new timestamp and retention: the leader
			// restamps every proposal, and neither is a parameter.
			{createCmd(100, "ca-dave", "dave", "USD", false), withRetention(createCmd(150, "ca-dave", "dave", "USD", false), 60_000)},
			{depositCmd(100, "dep-dave", "dave", 40, "USD"), depositCmd(160, "dep-dave", "dave", 40, "USD")},
			{transferCmd(100, "tr-dave", "alice", "dave", 60, "USD"), transferCmd(170, "tr-dave", "alice", "dave", 60, "USD")},
		} {
			first := apply(t, g, cmds[0])
			if first.Replayed || first.Result.GetError() != nil {
				t.Fatalf("first %v: replayed %v, result %v", cmds[0], first.Replayed, first.Result)
			}
			for range 2 {
				before := stateHash(t, g)
				again := apply(t, g, cmds[1])
				if !again.Replayed {
					t.Errorf("retry of %v was not marked replayed", cmds[1])
				}
				requireEqual(t, "replayed result", again.Result, first.Result)
				if stateHash(t, g) != before {
					t.Errorf("replaying %v changed the state", cmds[1])
				}
			}
		}
		// Moved once: 40 deposited, 60 transferred in.
		if acc := account(t, g, "dave"); acc.GetBalanceMinor() != 100 || acc.GetVersion() != 3 {
			t.Errorf("dave: balance %d version %d, want 100 and 3", acc.GetBalanceMinor(), acc.GetVersion())
		}
		if got := account(t, g, "alice").GetBalanceMinor(); got != 10_000-60 {
			t.Errorf("alice balance %d, want %d", got, 10_000-60)
		}
		requireConserved(t, g)
	})

	// Issue 13, item 2: every id has a scope (a transfer id its payer, a
	// deposit or create key its account) and every kind its own
	// namespace, so the same string in another scope or kind is another
	// request, never a reuse and never a replay of someone else's answer.
	t.Run("ids are scoped to their account and kind", func(t *testing.T) {
		mustSucceed(t, g, createCmd(190, "c-dora", "dora", "USD", false))
		mustSucceed(t, g, depositCmd(190, "d-dora", "dora", 100, "USD"))
		mustSucceed(t, g, transferCmd(191, "shared-1", "alice", "bob", 1, "USD"))
		for _, tc := range []struct {
			name string
			cmd  *pb.Command
		}{
			{"the same transfer id from another payer", transferCmd(192, "shared-1", "dora", "bob", 2, "USD")},
			{"a transfer id as a deposit key", depositCmd(192, "shared-1", "bob", 3, "USD")},
			{"a transfer id as a create key", createCmd(192, "shared-1", "frank", "USD", false)},
			{"a deposit key as a transfer id", transferCmd(192, "d-dora", "bob", "dora", 1, "USD")},
			{"a create key for another account", createCmd(192, "c-dora", "gina", "USD", false)},
			{"a deposit key on another account", depositCmd(192, "d-dora", "bob", 4, "USD")},
			// A credit from another cell under an id a local payer used:
			// its own namespace (it was REVERSED before: the payee's cell
			// already held "shared-1").
			{"a local transfer id as an incoming credit", func() *pb.Command {
				c := creditInCmd(192, "shared-1", "remote-zed", "bob", 5, "USD")
				return c
			}()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if a := apply(t, g, tc.cmd); a.Result.GetError() != nil || a.Replayed {
					t.Fatalf("got %v (replayed %v), want its own success", a.Result, a.Replayed)
				}
			})
		}
		for _, payer := range []string{"alice", "dora"} {
			if rec, err := GetTransfer(g.Reader(), payer, "shared-1"); err != nil || rec.GetFromAccountId() != payer {
				t.Errorf("GetTransfer(%s, shared-1) = %v, %v; want the payer's own transfer", payer, rec, err)
			}
		}
		requireConserved(t, g)
	})

	t.Run("same key different parameters is refused", func(t *testing.T) {
		mustSucceed(t, g, transferCmd(200, "key-1", "alice", "bob", 10, "USD"))
		mustSucceed(t, g, depositCmd(200, "key-2", "bob", 10, "USD"))
		for _, tc := range []struct {
			name string
			cmd  *pb.Command
			key  string
		}{
			{"transfer amount", transferCmd(201, "key-1", "alice", "bob", 11, "USD"), "key-1"},
			{"transfer payee", transferCmd(201, "key-1", "alice", "carol", 10, "USD"), "key-1"},
			{"deposit amount", depositCmd(201, "key-2", "bob", 11, "USD"), "key-2"},
			{"deposit external ref", func() *pb.Command {
				c := depositCmd(201, "key-2", "bob", 10, "USD")
				c.GetDeposit().ExternalRef = "another"
				return c
			}(), "key-2"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := stateHash(t, g)
				a := apply(t, g, tc.cmd)
				e := wantError(t, a, reasonKeyReused)
				if a.Replayed {
					t.Error("a refused reuse is marked replayed")
				}
				if !strings.Contains(e.GetMessage(), fmt.Sprintf("%q", tc.key)) {
					t.Errorf("message %q does not name the key %q", e.GetMessage(), tc.key)
				}
				wantField := "idempotency_key"
				if tc.cmd.GetTransfer() != nil {
					wantField = "transfer_id"
				}
				if e.GetField() != wantField {
					t.Errorf("field %q, want %s", e.GetField(), wantField)
				}
				if stateHash(t, g) != before {
					t.Error("a refused reuse changed the state")
				}
			})
		}
	})

	t.Run("a failed first execution is replayed", func(t *testing.T) {
		mustSucceed(t, g, createCmd(300, "ca-poor", "poor", "USD", false))
		cmd := transferCmd(301, "tr-poor", "poor", "bob", 50, "USD")
		first := apply(t, g, cmd)
		wantError(t, first, reasonInsufficient)
		mustSucceed(t, g, depositCmd(302, "dep-poor", "poor", 100, "USD"))
		again := apply(t, g, transferCmd(303, "tr-poor", "poor", "bob", 50, "USD"))
		if !again.Replayed {
			t.Error("the retry after funding was executed, not replayed")
		}
		requireEqual(t, "replayed failure", again.Result, first.Result)
		if got := account(t, g, "poor").GetBalanceMinor(); got != 100 {
			t.Errorf("poor balance %d, want 100 (the retry must not move money)", got)
		}
		if _, err := GetTransfer(g.Reader(), "poor", "tr-poor"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetTransfer of a failed transfer: %v, want ErrNotFound", err)
		}
		mustSucceed(t, g, transferCmd(304, "tr-poor-2", "poor", "bob", 50, "USD"))
	})

	t.Run("retention", func(t *testing.T) {
		g := newTwin(t) // its own clock from t=0
		mustSucceed(t, g, createCmd(0, "ca-r", "r", "USD", false))
		mustSucceed(t, g, createCmd(0, "ca-s", "s", "USD", false))
		dep := func(ts int64) *pb.Command { return withRetention(depositCmd(ts, "dep-r", "r", 100, "USD"), 1_000) }
		expire := func(cutoff int64) uint32 {
			return mustSucceed(t, g, &pb.Command{TimestampUnixMs: cutoff, Body: &pb.Command_ExpireKeys{ExpireKeys: &pb.ExpireKeys{CutoffUnixMs: cutoff}}}).GetKeysExpired().GetCount()
		}
		for _, step := range []struct {
			ts          int64
			expireFirst int64 // an ExpireKeys with this cutoff runs first (0: none)
			replayed    bool
			balanceWant int64
		}{
			{ts: 0, replayed: false, balanceWant: 100},
			{ts: 999, replayed: true, balanceWant: 100},
			// Past its retention but not yet expired by the janitor: still
			// answered (a lookup reads no clock).
			{ts: 1_500, replayed: true, balanceWant: 100},
			// A leader whose clock runs far ahead stamps the retry late: the
			// key is still there, the deposit does not run twice.
			{ts: 1_000_000_000_000, replayed: true, balanceWant: 100},
			{ts: 999, expireFirst: 999, replayed: true, balanceWant: 100}, // cutoff before its expiry: kept
			{ts: 1_600, expireFirst: 1_000, replayed: false, balanceWant: 200},
			{ts: 2_599, replayed: true, balanceWant: 200}, // the new record, kept from t=1600
		} {
			if step.expireFirst != 0 {
				expire(step.expireFirst)
			}
			a := apply(t, g, dep(step.ts))
			if a.Result.GetError() != nil || a.Replayed != step.replayed {
				t.Fatalf("t=%d: replayed %v result %v, want replayed %v and success", step.ts, a.Replayed, a.Result, step.replayed)
			}
			if got := account(t, g, "r").GetBalanceMinor(); got != step.balanceWant {
				t.Errorf("t=%d: balance %d, want %d", step.ts, got, step.balanceWant)
			}
		}
		// Once expired, a key may even carry other parameters.
		if n := expire(2_600); n != 1 {
			t.Fatalf("ExpireKeys at 2600 expired %d keys, want 1", n)
		}
		mustSucceed(t, g, withRetention(depositCmd(3_000, "dep-r", "s", 7, "USD"), 1_000))

		// A transfer id and a create key are kept forever, whatever
		// retention the command says.
		tr := func(ts int64) *pb.Command { return withRetention(transferCmd(ts, "tr-r", "r", "s", 30, "USD"), 1_000) }
		mustSucceed(t, g, tr(4_000))
		withRet := func(ts int64) *pb.Command { return withRetention(createCmd(ts, "ca-t", "t", "USD", false), 1_000) }
		mustSucceed(t, g, withRet(4_000))
		expire(1_000_000_000)
		for _, ts := range []int64{5_000, 1_000_000_000} {
			if a := apply(t, g, tr(ts)); !a.Replayed {
				t.Errorf("transfer retried at t=%d was executed again: %v", ts, a.Result)
			}
			if a := apply(t, g, withRet(ts)); !a.Replayed {
				t.Errorf("create retried at t=%d was executed again: %v", ts, a.Result)
			}
		}
		if got := account(t, g, "s").GetBalanceMinor(); got != 37 {
			t.Errorf("s balance %d, want 37", got)
		}
		// Nothing is left in the expiry index of what ExpireKeys deleted.
		n := 0
		if err := g.Reader().Scan([]byte("x/"), []byte("x0"), func(k, v []byte) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		if n != 0 { // the last deposit key (expiring at 4000) went with the cutoff 1e9
			t.Errorf("%d expiry index entries left, want 0", n)
		}
		requireConserved(t, g)
	})

	t.Run("concurrent duplicates execute once", func(t *testing.T) {
		const duplicates = 50
		before := account(t, g, "carol").GetBalanceMinor()
		cmd := transferCmd(400, "tr-storm", "alice", "carol", 25, "USD")
		data, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		results := make([]Applied, duplicates)
		errs := make([]error, duplicates)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range duplicates {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
				defer cancel()
				<-start
				out, err := g.Apply(ctx, data)
				if err != nil {
					errs[i] = err
					return
				}
				results[i], _ = out.(Applied)
			})
		}
		close(start)
		wg.Wait()
		executed := 0
		for i, a := range results {
			if errs[i] != nil || a.Result == nil {
				t.Fatalf("duplicate %d: %v, result %v", i, errs[i], a.Result)
			}
			if !a.Replayed {
				executed++
			}
			requireEqual(t, fmt.Sprintf("result %d", i), a.Result, results[0].Result)
		}
		if executed != 1 {
			t.Errorf("%d of %d duplicates executed, want exactly 1", executed, duplicates)
		}
		if results[0].Result.GetTransfer() == nil {
			t.Fatalf("the transfer failed: %v", results[0].Result)
		}
		if got := account(t, g, "carol").GetBalanceMinor(); got != before+25 {
			t.Errorf("carol balance %d, want %d (moved once)", got, before+25)
		}
		requireConserved(t, g)
	})
}

func TestReads(t *testing.T) {
	g := newTwin(t)
	// hub's neighbours share its prefix in every way the key layout allows.
	for _, id := range []string{"hub", "hu", "hub.x", "hub0", "hub-a", "spoke"} {
		mustSucceed(t, g, createCmd(1, "ca-"+id, id, "USD", false))
		mustSucceed(t, g, depositCmd(2, "dep-"+id, id, 1_000, "USD"))
	}

	if _, err := GetAccount(g.Reader(), "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetAccount(nobody): %v, want ErrNotFound", err)
	}
	if _, err := GetTransfer(g.Reader(), "hub", "no-transfer"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetTransfer(no-transfer): %v, want ErrNotFound", err)
	}
	if _, _, err := ListTransfers(g.Reader(), "nobody", 3, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListTransfers(nobody): %v, want ErrNotFound", err)
	}

	// Seven transfers of hub, both directions, with deposits and the
	// neighbours' transfers in between (hub's versions have gaps).
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("tr-%d", i)
		if i%2 == 0 {
			mustSucceed(t, g, transferCmd(int64(10+i), id, "hub", "spoke", int64(1+i), "USD"))
		} else {
			mustSucceed(t, g, transferCmd(int64(10+i), id, "spoke", "hub", int64(1+i), "USD"))
		}
		want = append(want, id)
		mustSucceed(t, g, depositCmd(int64(10+i), fmt.Sprintf("dep-hub-%d", i), "hub", 1, "USD"))
		for _, other := range []string{"hu", "hub.x", "hub0", "hub-a"} {
			mustSucceed(t, g, transferCmd(int64(10+i), fmt.Sprintf("tr-%s-%d", other, i), other, "spoke", 1, "USD"))
		}
	}
	rec, err := GetTransfer(g.Reader(), "spoke", "tr-3")
	if err != nil || rec.GetFromAccountId() != "spoke" || rec.GetAmountMinor() != 4 {
		t.Errorf("GetTransfer(tr-3) = %v, %v", rec, err)
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		var sizes []int
		token := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("paging does not end")
			}
			recs, next, err := ListTransfers(g.Reader(), "hub", 3, token)
			if err != nil {
				t.Fatal(err)
			}
			// Reading a page again with the same token gives the same page.
			again, nextAgain, err := ListTransfers(g.Reader(), "hub", 3, token)
			if err != nil || len(again) != len(recs) || nextAgain != next {
				t.Fatalf("page %d read again: %d records, next %q, %v; first %d, %q", page, len(again), nextAgain, err, len(recs), next)
			}
			sizes = append(sizes, len(recs))
			for _, r := range recs {
				if r.GetFromAccountId() != "hub" && r.GetToAccountId() != "hub" {
					t.Errorf("hub's listing holds %v", r)
				}
				got = append(got, r.GetTransferId())
			}
			if next == "" {
				break
			}
			token = next
		}
		if fmt.Sprint(sizes) != "[3 3 1]" {
			t.Errorf("page sizes %v, want [3 3 1]", sizes)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("transfers %v, want %v (oldest first)", got, want)
		}
	})

	for _, tc := range []struct {
		pageSize uint32
		lenWant  int
		nextWant bool
	}{
		{0, 7, false}, // the default page holds them all
		{7, 7, false}, // exactly full: no token to an empty page
		{6, 6, true},
		{1_000_000, 7, false},
	} {
		recs, next, err := ListTransfers(g.Reader(), "hub", tc.pageSize, "")
		if err != nil || len(recs) != tc.lenWant || (next != "") != tc.nextWant {
			t.Errorf("page size %d: %d records, next %q, %v; want %d records, a next token %v", tc.pageSize, len(recs), next, err, tc.lenWant, tc.nextWant)
		}
	}

	for _, neighbour := range []string{"hu", "hub.x", "hub0", "hub-a"} {
		recs, _, err := ListTransfers(g.Reader(), neighbour, 0, "")
		if err != nil || len(recs) != 7 {
			t.Errorf("ListTransfers(%s): %d records, %v; want its own 7", neighbour, len(recs), err)
		}
	}

	for _, token := range []string{"zz", "abcd", "000000000000000000", "0000000000000000x", "not a token"} {
		_, _, err := ListTransfers(g.Reader(), "hub", 3, token)
		if ie := asInputError(t, err); ie.Field != "page_token" {
			t.Errorf("token %q: field %q, want page_token", token, ie.Field)
		}
	}
}

func TestMalformedCommandsThroughApply(t *testing.T) {
	g := newTwin(t)
	mustSucceed(t, g, createCmd(1, "ca-a", "a", "USD", false))

	undecodable := []byte{0xff, 0xff, 0xff}
	// Invalid UTF-8 in a string field: the deposit's idempotency_key.
	badUTF8 := []byte{0x5a, 0x04, 0x0a, 0x02, 0xff, 0xfe}
	noBody, _ := proto.Marshal(&pb.Command{TimestampUnixMs: 5, IdempotencyRetentionMs: 9})
	// Only an unknown field (number 99, varint).
	unknownKind := []byte{0x98, 0x06, 0x01}
	invalidCurrency, _ := proto.Marshal(depositCmd(6, "dep-a", "a", 5, "usd"))
	invalidTransfer, _ := proto.Marshal(transferCmd(6, "tr/1", "a", "b", 5, "USD"))
	emptyDeposit, _ := proto.Marshal(&pb.Command{Body: &pb.Command_Deposit{Deposit: &pb.Deposit{}}})

	for _, tc := range []struct {
		name  string
		data  []byte
		field string
	}{
		{"undecodable", undecodable, "command"},
		{"invalid utf-8", badUTF8, "command"},
		{"empty", []byte{}, "command.body"},
		{"no body", noBody, "command.body"},
		{"unknown kind", unknownKind, "command.body"},
		{"invalid currency", invalidCurrency, "currency"},
		{"invalid transfer id", invalidTransfer, "transfer_id"},
		{"empty deposit", emptyDeposit, "idempotency_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := stateHash(t, g)
			a := applyData(t, g, tc.data)
			e := wantError(t, a, reasonInvalid)
			if e.GetField() != tc.field {
				t.Errorf("field %q, want %q (message %q)", e.GetField(), tc.field, e.GetMessage())
			}
			if a.Replayed {
				t.Error("an invalid command is marked replayed")
			}
			if stateHash(t, g) != before {
				t.Error("an invalid command changed the state")
			}
		})
	}

	// Random bytes that do not decode.
	rng := newRand(7)
	for tried, rejected := 0, 0; rejected < 20; tried++ {
		if tried > 10_000 {
			t.Fatal("no undecodable random input found")
		}
		data := make([]byte, 1+rng.IntN(64))
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		if proto.Unmarshal(data, &pb.Command{}) == nil {
			continue
		}
		rejected++
		before := stateHash(t, g)
		wantError(t, applyData(t, g, data), reasonInvalid)
		if stateHash(t, g) != before {
			t.Fatalf("undecodable %x changed the state", data)
		}
	}

	// An invalid command does not consume its key.
	mustSucceed(t, g, depositCmd(7, "dep-a", "a", 5, "USD"))
	requireConserved(t, g)
}

// TestValidateIdentifiers runs every identifier field of every command
// through the same cases.
func TestValidateIdentifiers(t *testing.T) {
	validCreate := func() *pb.CreateAccount {
		return &pb.CreateAccount{IdempotencyKey: "k", AccountId: "a", Currency: "USD"}
	}
	validDeposit := func() *pb.Deposit {
		return &pb.Deposit{IdempotencyKey: "k", AccountId: "a", AmountMinor: 1, Currency: "USD", ExternalRef: "r"}
	}
	validTransfer := func() *pb.Transfer {
		return &pb.Transfer{TransferId: "k", FromAccountId: "a", ToAccountId: "b", AmountMinor: 1, Currency: "USD"}
	}
	type field struct {
		name     string
		bytesMax int
		check    func(v string) error
	}
	fields := []field{
		{"idempotency_key", 128, func(v string) error { c := validCreate(); c.IdempotencyKey = v; return ValidateCreateAccount(c) }},
		{"account_id", 64, func(v string) error { c := validCreate(); c.AccountId = v; return ValidateCreateAccount(c) }},
		{"idempotency_key", 128, func(v string) error { c := validDeposit(); c.IdempotencyKey = v; return ValidateDeposit(c) }},
		{"account_id", 64, func(v string) error { c := validDeposit(); c.AccountId = v; return ValidateDeposit(c) }},
		{"transfer_id", 128, func(v string) error { c := validTransfer(); c.TransferId = v; return ValidateTransfer(c) }},
		{"from_account_id", 64, func(v string) error { c := validTransfer(); c.FromAccountId = v; return ValidateTransfer(c) }},
		{"to_account_id", 64, func(v string) error { c := validTransfer(); c.ToAccountId = v; return ValidateTransfer(c) }},
	}
	for i, f := range fields {
		cases := []struct {
			value string
			ok    bool
		}{
			{"", false},
			{"x", true},
			{"Az09_-.:", true},
			{strings.Repeat("a", f.bytesMax), true},
			{strings.Repeat("a", f.bytesMax+1), false},
			{"a/b", false},
			{"a b", false},
			{"a\x00b", false},
			{"a\tb", false},
			{"é", false},
			{"ａ", false}, // fullwidth a
			{"a+b", false},
			{"a\x7f", false},
		}
		for _, c := range cases {
			err := f.check(c.value)
			if c.ok {
				if err != nil {
					t.Errorf("fields[%d] %s = %q: %v, want valid", i, f.name, c.value, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("fields[%d] %s = %q: valid, want an error", i, f.name, c.value)
				continue
			}
			if ie := asInputError(t, err); ie.Field != f.name {
				t.Errorf("fields[%d] %s = %q: error names field %q", i, f.name, c.value, ie.Field)
			}
		}
	}
	for _, err := range []error{ValidateCreateAccount(nil), ValidateDeposit(nil), ValidateTransfer(nil)} {
		if ie := asInputError(t, err); ie.Field != "command" {
			t.Errorf("nil command: field %q, want command", ie.Field)
		}
	}
}

func TestValidateCurrencyAndExternalRef(t *testing.T) {
	for _, tc := range []struct {
		currency string
		ok       bool
	}{
		{"USD", true}, {"EUR", true}, {"CNY", true}, {"JPY", true},
		{"usd", false}, {"XXX", false}, {"", false}, {"EURO", false}, {"US", false}, {"US D", false}, {"U\x00SD", false},
	} {
		errs := []error{
			ValidateCreateAccount(&pb.CreateAccount{IdempotencyKey: "k", AccountId: "a", Currency: tc.currency}),
			ValidateDeposit(&pb.Deposit{IdempotencyKey: "k", AccountId: "a", AmountMinor: 1, Currency: tc.currency}),
			ValidateTransfer(&pb.Transfer{TransferId: "k", FromAccountId: "a", ToAccountId: "b", AmountMinor: 1, Currency: tc.currency}),
		}
		for i, err := range errs {
			switch {
			case tc.ok && err != nil:
				t.Errorf("validator %d, currency %q: %v", i, tc.currency, err)
			case !tc.ok && err == nil:
				t.Errorf("validator %d, currency %q: valid, want an error", i, tc.currency)
			case !tc.ok:
				if ie := asInputError(t, err); ie.Field != "currency" {
					t.Errorf("validator %d, currency %q: field %q", i, tc.currency, ie.Field)
				}
			}
		}
	}

	for _, tc := range []struct {
		name string
		ref  string
		ok   bool
	}{
		{"empty", "", true},
		{"printable", "invoice 42 / März", true},
		{"longest", strings.Repeat("r", 256), true},
		{"too long", strings.Repeat("r", 257), false},
		{"newline", "a\nb", false},
		{"NUL", "a\x00", false},
		{"escape", "\x1b[31m", false},
		{"DEL", "a\x7f", false},
	} {
		err := ValidateDeposit(&pb.Deposit{IdempotencyKey: "k", AccountId: "a", AmountMinor: 1, Currency: "USD", ExternalRef: tc.ref})
		switch {
		case tc.ok && err != nil:
			t.Errorf("external_ref %s: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("external_ref %s: valid, want an error", tc.name)
		case !tc.ok:
			if ie := asInputError(t, err); ie.Field != "external_ref" {
				t.Errorf("external_ref %s: field %q", tc.name, ie.Field)
			}
		}
	}
}

// TestValidateDepositRejectsUnencodableExternalRef: a deposit that passes
// validation must be proposable. proto3 string fields must hold valid
// UTF-8, so an external_ref with invalid UTF-8 can never be encoded (the
// service would answer INTERNAL instead of INVALID_ARGUMENT naming the
// field).
func TestValidateDepositRejectsUnencodableExternalRef(t *testing.T) {
	d := &pb.Deposit{IdempotencyKey: "k", AccountId: "a", AmountMinor: 1, Currency: "USD", ExternalRef: "caf\xe9"}
	_, marshalErr := proto.Marshal(&pb.Command{Body: &pb.Command_Deposit{Deposit: d}})
	if marshalErr == nil {
		t.Skip("this protobuf runtime encodes invalid UTF-8; nothing to check")
	}
	err := ValidateDeposit(d)
	if err == nil {
		t.Fatalf("ValidateDeposit accepts external_ref %q, which cannot be encoded: %v", d.ExternalRef, marshalErr)
	}
	if ie := asInputError(t, err); ie.Field != "external_ref" {
		t.Errorf("field %q, want external_ref", ie.Field)
	}
}

func TestLedgerStatus(t *testing.T) {
	cases := map[pb.ErrorReason]struct {
		code   codes.Code
		reason string
	}{
		pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:       {codes.InvalidArgument, "INVALID_ARGUMENT"},
		pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE:    {codes.InvalidArgument, "AMOUNT_NOT_POSITIVE"},
		pb.ErrorReason_ERROR_REASON_SAME_ACCOUNT:           {codes.InvalidArgument, "SAME_ACCOUNT"},
		pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND:      {codes.NotFound, "ACCOUNT_NOT_FOUND"},
		pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND:     {codes.NotFound, "TRANSFER_NOT_FOUND"},
		pb.ErrorReason_ERROR_REASON_ACCOUNT_EXISTS:         {codes.AlreadyExists, "ACCOUNT_EXISTS"},
		pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS:     {codes.FailedPrecondition, "INSUFFICIENT_FUNDS"},
		pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH:      {codes.FailedPrecondition, "CURRENCY_MISMATCH"},
		pb.ErrorReason_ERROR_REASON_OVERFLOW:               {codes.FailedPrecondition, "OVERFLOW"},
		pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED: {codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED"},
		pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND:       {codes.NotFound, "PAYOUT_NOT_FOUND"},
		pb.ErrorReason_ERROR_REASON_UNKNOWN_PROVIDER:       {codes.FailedPrecondition, "UNKNOWN_PROVIDER"},
		pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD:           {codes.FailedPrecondition, "ACCOUNT_HELD"},
	}
	for number := range pb.ErrorReason_name {
		r := pb.ErrorReason(number)
		if _, ok := cases[r]; !ok && r != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			t.Errorf("reason %v has no expected gRPC code in this test", r)
		}
	}
	for r, want := range cases {
		err := ledgerStatus(&pb.LedgerError{Reason: r, Message: "the message", Field: "amount_minor"}, 42)
		st, ok := status.FromError(err)
		if !ok {
			t.Fatalf("%v: %v is not a gRPC status", r, err)
		}
		if st.Code() != want.code {
			t.Errorf("%v: code %v, want %s", r, st.Code(), want.code)
		}
		if st.Message() != "the message" {
			t.Errorf("%v: message %q", r, st.Message())
		}
		if got := rpcstatus.Reason(err); got != want.reason {
			t.Errorf("%v: Reason = %q, want %q", r, got, want.reason)
		}
		if got := rpcstatus.ReasonString(r); got != want.reason {
			t.Errorf("rpcstatus.ReasonString(%v) = %q, want %q", r, got, want.reason)
		}
		info, ok := rpcstatus.Info(err)
		if !ok || info.GetDomain() != rpcstatus.ErrorDomain || info.GetMetadata()[rpcstatus.MetaField] != "amount_minor" || info.GetMetadata()[rpcstatus.MetaCellID] != "42" {
			t.Errorf("%v: ErrorInfo %v", r, info)
		}
		if _, _, ok := rpcstatus.LeaderHint(err); ok {
			t.Errorf("%v: LeaderHint found a leader in a ledger error", r)
		}
	}
	// No field: no field metadata.
	info, _ := rpcstatus.Info(ledgerStatus(&pb.LedgerError{Reason: reasonOverflow}, 1))
	if _, has := info.GetMetadata()[rpcstatus.MetaField]; has {
		t.Errorf("an error without field carries field metadata %v", info.GetMetadata())
	}

	ie := inputStatus(&InputError{Field: "currency", Reason: "bad"}, 3)
	if status.Code(ie) != codes.InvalidArgument || rpcstatus.Reason(ie) != "INVALID_ARGUMENT" {
		t.Errorf("inputStatus: %v, reason %q", ie, rpcstatus.Reason(ie))
	}
	if info, _ := rpcstatus.Info(ie); info.GetMetadata()[rpcstatus.MetaField] != "currency" {
		t.Errorf("inputStatus metadata %v", info.GetMetadata())
	}

	for _, err := range []error{nil, errors.New("plain"), fmt.Errorf("wrapped: %w", errors.New("x"))} {
		if got := rpcstatus.Reason(err); got != "" {
			t.Errorf("rpcstatus.Reason(%v) = %q, want empty", err, got)
		}
	}
}

func TestNotLeaderStatus(t *testing.T) {
	err := rpcstatus.NotLeader(7, "n2", "10.0.0.2:7001", 12)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("code %v, want Unavailable", status.Code(err))
	}
	if rpcstatus.Reason(err) != rpcstatus.ReasonNotLeader {
		t.Errorf("Reason %q, want %q", rpcstatus.Reason(err), rpcstatus.ReasonNotLeader)
	}
	id, addr, ok := rpcstatus.LeaderHint(err)
	if !ok || id != "n2" || addr != "10.0.0.2:7001" {
		t.Errorf("LeaderHint = %q %q %v, want n2 10.0.0.2:7001 true", id, addr, ok)
	}
	if info, _ := rpcstatus.Info(err); info.GetMetadata()[rpcstatus.MetaCellID] != "7" {
		t.Errorf("cell id metadata %v", info.GetMetadata())
	}
	if term := rpcstatus.LeaderHintTerm(err); term != 12 {
		t.Errorf("LeaderHintTerm = %d, want 12", term)
	}

	err = rpcstatus.NotLeader(7, "", "", 0)
	if rpcstatus.Reason(err) != rpcstatus.ReasonNotLeader {
		t.Errorf("Reason %q without a known leader", rpcstatus.Reason(err))
	}
	if _, _, ok := rpcstatus.LeaderHint(err); ok {
		t.Error("LeaderHint reports a leader when none is known")
	}
	if !strings.Contains(err.Error(), "no leader is known") {
		t.Errorf("message %q does not say no leader is known", err)
	}
}

// The random workload and its model: an independent, in-memory statement
// of the ledger's rules that predicts each command's outcome.

// genCommands returns n commands of every kind from seed: creates with
// wrong currencies and existing ids, deposits and transfers with bad
// amounts, unknown and same accounts, exact retries (restamped, as a
// leader restamps a client's retry) and keys reused with other parameters.
// The sequence depends only on seed.
func genCommands(seed uint64, n int) []*pb.Command {
	rng := newRand(seed)
	const accounts = 10
	currencies := []string{"USD", "EUR"}
	pickAccount := func() string {
		if rng.IntN(20) == 0 {
			return "ghost"
		}
		return fmt.Sprintf("acc-%d", rng.IntN(accounts))
	}
	currencyOf := func(id string) string {
		if id == "ghost" || rng.IntN(15) == 0 {
			return currencies[rng.IntN(2)]
		}
		return currencies[int(id[len(id)-1]-'0')%2]
	}
	amount := func(huge bool) int64 {
		switch p := rng.IntN(100); {
		case p < 3:
			return 0
		case p < 5:
			return -1 - rng.Int64N(100)
		case huge && p < 6:
			return math.MaxInt64/2 + rng.Int64N(3)
		case huge && p < 8:
			return math.MaxInt64 - rng.Int64N(3)
		default:
			return 1 + rng.Int64N(500)
		}
	}
	var out []*pb.Command
	ts := int64(1_000)
	for i := range n {
		ts += rng.Int64N(40)
		var cmd *pb.Command
		switch p := rng.IntN(100); {
		case p < 12 && len(out) > 0:
			cmd = proto.Clone(out[rng.IntN(len(out))]).(*pb.Command)
			cmd.TimestampUnixMs = ts
		case p < 16 && len(out) > 0:
			cmd = proto.Clone(out[rng.IntN(len(out))]).(*pb.Command)
			cmd.TimestampUnixMs = ts
			switch b := cmd.GetBody().(type) {
			case *pb.Command_CreateAccount:
				b.CreateAccount.AllowNegativeBalance = !b.CreateAccount.AllowNegativeBalance
			case *pb.Command_Deposit:
				b.Deposit.AmountMinor++
			case *pb.Command_Transfer:
				b.Transfer.ToAccountId = pickAccount()
			}
		case p < 26:
			id := pickAccount()
			cmd = createCmd(ts, fmt.Sprintf("k-%d", i), id, currencyOf(id), rng.IntN(4) == 0)
		case p < 56:
			id := pickAccount()
			cmd = depositCmd(ts, fmt.Sprintf("k-%d", i), id, amount(false), currencyOf(id))
		default:
			from, to := pickAccount(), pickAccount()
			if rng.IntN(10) > 0 && from != "ghost" && to != "ghost" {
				// Mostly between accounts of one currency: same parity.
				to = fmt.Sprintf("acc-%d", (int(from[len(from)-1]-'0')+2*(1+rng.IntN(accounts/2-1)))%accounts)
			}
			cmd = transferCmd(ts, fmt.Sprintf("k-%d", i), from, to, amount(true), currencyOf(from))
		}
		if rng.IntN(3) == 0 {
			cmd.IdempotencyRetentionMs = []int64{-5, 100, 1_000, 5_000}[rng.IntN(4)]
		}
		out = append(out, cmd)
	}
	return out
}

type modelKey struct {
	body         *pb.Command // the command without timestamp and retention
	first        *pb.CommandResult
	createdAtMs  int64
	retentionMs  int64
	reasonStored pb.ErrorReason
}

type ledgerModel struct {
	accounts  map[string]*pb.Account
	keys      map[string]*modelKey
	deposited map[string]int64
	transfers map[string]bool     // successful transfer ids
	history   map[string][]string // account -> its transfer ids, oldest first
}

func newLedgerModel() *ledgerModel {
	return &ledgerModel{
		accounts: map[string]*pb.Account{}, keys: map[string]*modelKey{}, deposited: map[string]int64{},
		transfers: map[string]bool{}, history: map[string][]string{},
	}
}

// addExact adds with math/big, independently of the ledger's overflow check.
func addExact(a, b int64) (int64, bool) {
	s := new(big.Int).Add(big.NewInt(a), big.NewInt(b))
	return s.Int64(), s.IsInt64()
}

// predict returns the reason (UNSPECIFIED for success) and replayed flag
// the command must get, and the key record to fill with the actual result
// when the command executes (nil otherwise).
func (m *ledgerModel) predict(cmd *pb.Command) (pb.ErrorReason, bool, *modelKey) {
	now := cmd.GetTimestampUnixMs()
	body := &pb.Command{Body: cmd.GetBody()}
	key := modelKeyOf(cmd)
	retention := max(cmd.GetIdempotencyRetentionMs(), 0)
	if cmd.GetTransfer() != nil {
		retention = 0
	}
	// Keys expire only by ExpireKeys, which this workload does not send.
	if k, ok := m.keys[key]; ok {
		if !proto.Equal(k.body, body) {
			return reasonKeyReused, false, nil
		}
		return k.reasonStored, true, nil
	}
	var reason pb.ErrorReason
	switch b := cmd.GetBody().(type) {
	case *pb.Command_CreateAccount:
		reason = m.create(b.CreateAccount, now)
	case *pb.Command_Deposit:
		reason = m.deposit(b.Deposit)
	case *pb.Command_Transfer:
		reason = m.transfer(b.Transfer)
	}
	k := &modelKey{body: body, createdAtMs: now, retentionMs: retention, reasonStored: reason}
	m.keys[key] = k
	return reason, false, k
}

// modelKeyOf is the model's idempotency key: the documented scope of each
// kind's id (an account for CreateAccount and Deposit keys, the payer for a
// transfer id), each kind in its own namespace.
func modelKeyOf(cmd *pb.Command) string {
	switch b := cmd.GetBody().(type) {
	case *pb.Command_CreateAccount:
		return "create " + b.CreateAccount.GetAccountId() + " " + b.CreateAccount.GetIdempotencyKey()
	case *pb.Command_Deposit:
		return "deposit " + b.Deposit.GetAccountId() + " " + b.Deposit.GetIdempotencyKey()
	case *pb.Command_Transfer:
		return "transfer " + b.Transfer.GetFromAccountId() + " " + b.Transfer.GetTransferId()
	}
	return ""
}

func (m *ledgerModel) create(c *pb.CreateAccount, now int64) pb.ErrorReason {
	if _, ok := m.accounts[c.GetAccountId()]; ok {
		return reasonExists
	}
	m.accounts[c.GetAccountId()] = &pb.Account{
		Id: c.GetAccountId(), Currency: c.GetCurrency(), AllowNegativeBalance: c.GetAllowNegativeBalance(),
		CreatedAtUnixMs: now, Version: 1,
	}
	return 0
}

func (m *ledgerModel) deposit(d *pb.Deposit) pb.ErrorReason {
	acc, ok := m.accounts[d.GetAccountId()]
	switch {
	case d.GetAmountMinor() <= 0:
		return reasonNotPositive
	case !ok:
		return reasonNotFound
	case acc.GetCurrency() != d.GetCurrency():
		return reasonCurrency
	}
	balance, ok1 := addExact(acc.BalanceMinor, d.GetAmountMinor())
	total, ok2 := addExact(m.deposited[d.GetCurrency()], d.GetAmountMinor())
	if !ok1 || !ok2 {
		return reasonOverflow
	}
	acc.BalanceMinor, acc.Version = balance, acc.Version+1
	m.deposited[d.GetCurrency()] = total
	return 0
}

func (m *ledgerModel) transfer(t *pb.Transfer) pb.ErrorReason {
	from, fromOK := m.accounts[t.GetFromAccountId()]
	to, toOK := m.accounts[t.GetToAccountId()]
	switch {
	case t.GetAmountMinor() <= 0:
		return reasonNotPositive
	case t.GetFromAccountId() == t.GetToAccountId():
		return reasonSameAccount
	case !fromOK || !toOK:
		return reasonNotFound
	case from.GetCurrency() != t.GetCurrency() || to.GetCurrency() != t.GetCurrency():
		return reasonCurrency
	}
	fromBalance, ok := addExact(from.BalanceMinor, -t.GetAmountMinor())
	switch {
	case !ok:
		return reasonOverflow
	case fromBalance < 0 && !from.AllowNegativeBalance:
		return reasonInsufficient
	}
	toBalance, ok := addExact(to.BalanceMinor, t.GetAmountMinor())
	if !ok {
		return reasonOverflow
	}
	from.BalanceMinor, from.Version = fromBalance, from.Version+1
	to.BalanceMinor, to.Version = toBalance, to.Version+1
	m.transfers[t.GetFromAccountId()+"/"+t.GetTransferId()] = true
	m.history[from.Id] = append(m.history[from.Id], t.GetTransferId())
	m.history[to.Id] = append(m.history[to.Id], t.GetTransferId())
	return 0
}

// check compares one actual outcome with the model's prediction.
func (m *ledgerModel) check(cmd *pb.Command, got Applied) error {
	reason, replayed, k := m.predict(cmd)
	if got.Result.GetError().GetReason() != reason || got.Replayed != replayed {
		return fmt.Errorf("got %v (replayed %v), want reason %v (replayed %v)", got.Result, got.Replayed, reason, replayed)
	}
	if k != nil {
		k.first = got.Result
	}
	if replayed {
		if first := m.keys[modelKeyOf(cmd)].first; !proto.Equal(got.Result, first) {
			return fmt.Errorf("replayed %v, first result was %v", got.Result, first)
		}
		return nil
	}
	if reason != 0 {
		return nil
	}
	switch r := got.Result.GetOutcome().(type) {
	case *pb.CommandResult_Account:
		if want := m.accounts[r.Account.GetId()]; !proto.Equal(r.Account, want) {
			return fmt.Errorf("created %v, model %v", r.Account, want)
		}
	case *pb.CommandResult_Deposit:
		if want := m.accounts[r.Deposit.GetAccountId()].GetBalanceMinor(); r.Deposit.GetBalanceAfterMinor() != want {
			return fmt.Errorf("deposit balance_after %d, model %d", r.Deposit.GetBalanceAfterMinor(), want)
		}
	case *pb.CommandResult_Transfer:
		tr := r.Transfer
		if tr.GetFromBalanceAfterMinor() != m.accounts[tr.GetFromAccountId()].GetBalanceMinor() ||
			tr.GetToBalanceAfterMinor() != m.accounts[tr.GetToAccountId()].GetBalanceMinor() {
			return fmt.Errorf("transfer %v, model balances %d and %d", tr,
				m.accounts[tr.GetFromAccountId()].GetBalanceMinor(), m.accounts[tr.GetToAccountId()].GetBalanceMinor())
		}
	default:
		return fmt.Errorf("success without a record: %v", got.Result)
	}
	return nil
}

// TestRandomWorkloadConservesMoney runs a seeded random workload, checks
// every outcome against the model, then checks the whole state: money is
// conserved, every account matches the model, and exactly the successful
// transfers have records and history.
func TestRandomWorkloadConservesMoney(t *testing.T) {
	const commands = 2_000
	g := newTwin(t)
	m := newLedgerModel()
	reasons := map[pb.ErrorReason]int{}
	replays := 0
	for i, cmd := range genCommands(1, commands) {
		before := ledgerHash(t, g)
		a := apply(t, g, cmd)
		if err := m.check(cmd, a); err != nil {
			t.Fatalf("command %d %v: %v", i, cmd, err)
		}
		if a.Result.GetError() != nil && ledgerHash(t, g) != before {
			t.Fatalf("command %d %v failed (%v) and changed the ledger", i, cmd, a.Result.GetError())
		}
		reasons[a.Result.GetError().GetReason()]++
		if a.Replayed {
			replays++
		}
	}

	totals := requireConserved(t, g)
	if totals.Accounts != len(m.accounts) {
		t.Errorf("%d accounts, model %d", totals.Accounts, len(m.accounts))
	}
	for c, want := range m.deposited {
		if totals.Deposited[c] != want {
			t.Errorf("deposited %s = %d, model %d", c, totals.Deposited[c], want)
		}
	}
	records := 0
	if err := g.Reader().Scan([]byte("t/"), []byte("t0"), func(k, v []byte) bool { records++; return true }); err != nil {
		t.Fatal(err)
	}
	if records != len(m.transfers) {
		t.Errorf("%d transfer records, %d distinct successful transfer ids", records, len(m.transfers))
	}
	for id, want := range m.accounts {
		requireEqual(t, "account "+id, account(t, g, id), want)
		recs, next, err := ListTransfers(g.Reader(), id, listPageSizeMax, "")
		if err != nil || next != "" {
			t.Fatalf("ListTransfers(%s): next %q, %v", id, next, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.GetTransferId())
		}
		if fmt.Sprint(got) != fmt.Sprint(m.history[id]) {
			t.Errorf("history of %s: %v, model %v", id, got, m.history[id])
		}
	}
	// The workload must have exercised what it claims to.
	for _, r := range []pb.ErrorReason{0, reasonExists, reasonNotPositive, reasonNotFound, reasonCurrency,
		reasonInsufficient, reasonSameAccount, reasonKeyReused, reasonOverflow} {
		if reasons[r] == 0 {
			t.Errorf("the workload produced no %v", r)
		}
	}
	if replays == 0 {
		t.Errorf("the workload produced no replays")
	}
	t.Logf("%d accounts, %d transfers, %d replays, outcomes %v",
		len(m.accounts), len(m.transfers), replays, reasons)
}

// TestDeterminism feeds two independent nodes the same commands: they end
// at the same applied index with the same state digest, having answered
// every command identically.
func TestDeterminism(t *testing.T) {
	const commands = 600
	cmds := genCommands(2, commands)
	type run struct {
		results []Applied
		err     error
		g       *replicationtest.Twin
	}
	runs := []*run{{g: newTwin(t)}, {g: newTwin(t)}}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			for _, cmd := range cmds {
				data, err := proto.Marshal(cmd)
				if err != nil {
					r.err = err
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
				out, err := r.g.Apply(ctx, data)
				cancel()
				if err != nil {
					r.err = err
					return
				}
				a, _ := out.(Applied)
				r.results = append(r.results, a)
			}
		})
	}
	wg.Wait()
	for i, r := range runs {
		if r.err != nil {
			t.Fatalf("node %d: %v", i, r.err)
		}
	}
	for i := range cmds {
		a, b := runs[0].results[i], runs[1].results[i]
		if a.Replayed != b.Replayed || !proto.Equal(a.Result, b.Result) {
			t.Fatalf("command %d %v: node 0 %v (replayed %v), node 1 %v (replayed %v)", i, cmds[i], a.Result, a.Replayed, b.Result, b.Replayed)
		}
	}
	index0, sha0 := runs[0].g.StateDigest()
	index1, sha1 := runs[1].g.StateDigest()
	if index0 != index1 || sha0 != sha1 {
		t.Errorf("node 0 at %d digest %x; node 1 at %d digest %x", index0, sha0, index1, sha1)
	}
	requireConserved(t, runs[0].g)
}
