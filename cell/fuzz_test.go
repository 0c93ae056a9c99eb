package cell

import (
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// oracleID restates the identifier rule independently of validate.go.
func oracleID(v string, bytesMax int) bool {
	if v == "" || len(v) > bytesMax {
		return false
	}
	return strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:") == ""
}

func oracleText(v string, bytesMax int) bool {
	if len(v) > bytesMax || !utf8.ValidString(v) {
		return false
	}
	for _, c := range []byte(v) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func oracleCurrency(c string) bool {
	return len(c) == 3 && strings.ToUpper(c) == c && iso4217[c]
}

// checkValidation fails unless err agrees with valid and, when it is an
// error, is an *InputError naming one of fields.
func checkValidation(t *testing.T, what string, err error, valid bool, fields ...string) {
	t.Helper()
	if valid != (err == nil) {
		t.Fatalf("%s: validator says %v, the rules say valid=%v", what, err, valid)
	}
	if err == nil {
		return
	}
	ie := asInputError(t, err)
	if !slices.Contains(fields, ie.Field) {
		t.Fatalf("%s: error names field %q, want one of %v", what, ie.Field, fields)
	}
	if !strings.HasPrefix(ie.Error(), "cell: invalid "+ie.Field+": ") {
		t.Fatalf("%s: message %q lacks the package prefix and field", what, ie.Error())
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("key-1", "acc-1", "acc-2", "USD", "ref", int64(10), true)
	f.Add("", "", "", "", "", int64(0), false)
	f.Add(strings.Repeat("k", 128), strings.Repeat("a", 64), strings.Repeat("b", 65), "EUR", strings.Repeat("r", 256), int64(-1), false)
	f.Add("a/b", "a b", "é", "usd", "line\nbreak", int64(math.MaxInt64), true)
	f.Add("k\x00", "a\x7f", "b:c", "XXX", "\x7f", int64(math.MinInt64), false)
	f.Fuzz(func(t *testing.T, key, account, other, currency, ref string, amount int64, allowNegative bool) {
		ca := &pb.CreateAccount{IdempotencyKey: key, AccountId: account, Currency: currency, AllowNegativeBalance: allowNegative}
		checkValidation(t, "CreateAccount", ValidateCreateAccount(ca),
			oracleID(key, 128) && oracleID(account, 64) && oracleCurrency(currency),
			"idempotency_key", "account_id", "currency")

		d := &pb.Deposit{IdempotencyKey: key, AccountId: account, AmountMinor: amount, Currency: currency, ExternalRef: ref}
		checkValidation(t, "Deposit", ValidateDeposit(d),
			oracleID(key, 128) && oracleID(account, 64) && oracleCurrency(currency) && oracleText(ref, 256),
			"idempotency_key", "account_id", "currency", "external_ref")

		tr := &pb.Transfer{TransferId: key, FromAccountId: account, ToAccountId: other, AmountMinor: amount, Currency: currency}
		checkValidation(t, "Transfer", ValidateTransfer(tr),
			oracleID(key, 128) && oracleID(account, 64) && oracleID(other, 64) && oracleCurrency(currency),
			"transfer_id", "from_account_id", "to_account_id", "currency")

		for _, err := range []error{ValidateCreateAccount(nil), ValidateDeposit(nil), ValidateTransfer(nil)} {
			checkValidation(t, "nil command", err, false, "command")
		}
	})
}

// FuzzApply applies arbitrary bytes to one shared cell ledger (on the
// in-memory twin: the ledger and its store, without Raft, which only
// carries the bytes). The ledger must never panic; each input gets a result; proposing the same input
// again answers identically (replayed when its key stored a result); and
// the cell's money stays conserved.
func FuzzApply(f *testing.F) {
	g := newTwin(f)
	setup := []*pb.Command{
		createCmd(1, "ca-a", "a", "USD", false),
		createCmd(1, "ca-b", "b", "USD", true),
		createCmd(1, "ca-c", "c", "EUR", false),
		depositCmd(2, "dep-a", "a", 1_000, "USD"),
		depositCmd(2, "dep-c", "c", 1_000, "EUR"),
	}
	for _, cmd := range setup {
		mustSucceed(f, g, cmd)
	}
	seeds := slices.Concat(setup, []*pb.Command{
		createCmd(3, "ca-d", "d", "JPY", true),
		depositCmd(4, "dep-b", "b", 50, "USD"),
		withRetention(depositCmd(5, "dep-r", "a", 7, "USD"), 100),
		transferCmd(6, "tr-1", "a", "b", 10, "USD"),
		transferCmd(7, "tr-2", "b", "a", math.MaxInt64, "USD"),
		transferCmd(8, "tr-3", "a", "c", 1, "USD"),
		transferCmd(9, "tr-4", "a", "a", 1, "USD"),
		depositCmd(10, "dep-neg", "a", -1, "USD"),
		{TimestampUnixMs: 11},
		transferOutCmd(12, "x-1", "a", "remote-z", 3),
		creditInCmd(13, "x-2", "remote-z", "b", 4, "USD"),
		deliveredCmd(14, "a", "x-1", pb.TransferState_TRANSFER_STATE_COMPLETED, ""),
		payoutCmd(15, "po-1", "a", 2, "bank-a"),
		outcomeCmd(16, "a", "po-1", "bank-a", pb.PayoutState_PAYOUT_STATE_UNKNOWN, ""),
		transferCmd(17, "tr-1", "b", "a", 1, "USD"), // the same id from another payer: its own transfer
		{TimestampUnixMs: 18, Body: &pb.Command_PayoutAttempt{PayoutAttempt: &pb.PayoutAttempt{PayoutId: "po-1", AccountId: "a", Provider: "bank-a"}}},
		payoutCmd(19, "po-2", "b", math.MaxInt64, "bank-a"),
		outcomeCmd(20, "b", "po-2", "bank-a", pb.PayoutState_PAYOUT_STATE_SUCCEEDED, ""),
		{TimestampUnixMs: 21, Body: &pb.Command_ExpireKeys{ExpireKeys: &pb.ExpireKeys{CutoffUnixMs: 200, MaxKeys: 2}}},
	})
	for _, cmd := range seeds {
		data, err := proto.Marshal(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		before := ledgerHash(t, g)
		first := applyData(t, g, data)
		if first.Result.GetError() != nil && ledgerHash(t, g) != before {
			t.Fatalf("a command that failed (%v) changed the ledger", first.Result.GetError())
		}
		again := applyData(t, g, data)
		var decoded pb.Command
		decodeErr := proto.Unmarshal(data, &decoded)
		switch decoded.GetBody().(type) {
		case *pb.Command_OutboxDelivered, *pb.Command_PayoutOutcome, *pb.Command_PayoutAttempt, *pb.Command_ExpireKeys:
			// Settling commands have no key: they are idempotent by the
			// state they change, never replayed; conservation still holds.
			if again.Replayed {
				t.Fatalf("a settling command was replayed: %v", again.Result)
			}
			requireConserved(t, g)
			return
		}
		// Invalid input and refused key reuse store nothing; every other
		// outcome, a held account's refusal included, is stored and
		// replayed (same timestamp: never expired).
		switch first.Result.GetError().GetReason() {
		case reasonInvalid, reasonKeyReused:
			if again.Replayed {
				t.Fatalf("an unstored outcome %v was replayed", first.Result)
			}
		default:
			if !again.Replayed {
				t.Fatalf("the same command again was executed, not replayed: first %v, again %v", first.Result, again.Result)
			}
		}
		if !proto.Equal(first.Result, again.Result) {
			t.Fatalf("the same command answered %v, then %v", first.Result, again.Result)
		}
		if e := first.Result.GetError(); e == nil {
			if decodeErr != nil {
				t.Fatalf("undecodable input succeeded: %v", first.Result)
			}
			kindOK := false
			switch decoded.GetBody().(type) {
			case *pb.Command_CreateAccount:
				kindOK = first.Result.GetAccount() != nil
			case *pb.Command_Deposit:
				kindOK = first.Result.GetDeposit() != nil
			case *pb.Command_Transfer, *pb.Command_CreditIn:
				kindOK = first.Result.GetTransfer() != nil
			case *pb.Command_Payout:
				kindOK = first.Result.GetPayout() != nil
			}
			if !kindOK {
				t.Fatalf("command %v answered with %v", &decoded, first.Result)
			}
		}
		requireConserved(t, g)
	})
}
