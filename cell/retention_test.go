package cell

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// TestKeyJanitorExpiresDepositKeysOnlyPastTheAllowance: a deposit key is
// kept for its retention, the janitor's cutoff trails the leader's clock by
// KeyExpiryClockSkewAllowance (so a clock running ahead by less than that
// expires nothing early), transfer ids are never expired, and once the
// janitor has expired a key the same deposit executes again (the
// documented window).
func TestKeyJanitorExpiresDepositKeysOnlyPastTheAllowance(t *testing.T) {
	host, g := newSingleHost(t)
	start := time.UnixMilli(1_800_000_000_000)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(d time.Duration) { mu.Lock(); now = start.Add(d); mu.Unlock() }
	svc := NewService(host, oneCellDirectory{}, ServiceConfig{Now: clock, IdempotencyRetention: time.Hour})
	j := newKeyJanitor(host, svc, []uint64{1}, time.Hour, quietLogger()) // passes run by hand below
	ctx := context.Background()
	for _, id := range []string{"alice", "bob"} {
		if _, err := svc.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "c-" + id, AccountId: id, Currency: "EUR"}}); err != nil {
			t.Fatal(err)
		}
	}
	deposit := func() {
		t.Helper()
		if _, err := svc.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{IdempotencyKey: "dep-1", AccountId: "alice", AmountMinor: 100, Currency: "EUR", ExternalRef: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	deposit()
	if _, err := svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-1", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 10, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration // the leader's clock at the pass and the retry
		want int64         // alice's balance after the retry
	}{
		{30 * time.Minute, 90},             // within its retention
		{time.Hour + 30*time.Minute, 90},   // past it, within the allowance: a fast clock expires nothing
		{2*time.Hour + time.Minute, 190},   // past retention + allowance: expired, the deposit runs again
		{2*time.Hour + 2*time.Minute, 190}, // the new key, fresh again
	} {
		setClock(step.at)
		j.pass(1)
		deposit()
		if got := account(t, g, "alice").GetBalanceMinor(); got != step.want {
			t.Fatalf("at +%s: alice %d, want %d", step.at, got, step.want)
		}
	}
	setClock(1000 * time.Hour)
	j.pass(1)
	rec, err := svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-1", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 10, Currency: "EUR"}})
	if err != nil || account(t, g, "bob").GetBalanceMinor() != 10 || rec.GetCreatedAtUnixMs() != start.UnixMilli() {
		t.Fatalf("transfer t-1 retried after 1000 h: %v, %v, bob %d; want the first record replayed", rec, err, account(t, g, "bob").GetBalanceMinor())
	}
	requireConserved(t, g)
}
