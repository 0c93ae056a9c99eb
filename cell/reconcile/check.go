package reconcile

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Scanner reads a cell's committed state; replication.Reader satisfies it.
// Unless it is a SnapshotScanner, CheckCell calls Scan once, over the whole
// state (lower and upper nil): replication.Reader serves one Scan from one
// Pebble iterator, a view of the state at one moment, so the sums agree
// with each other even while commands apply. Keys and values passed to fn
// are valid only during the call.
type Scanner interface {
	Scan(lower, upper []byte, fn func(key, value []byte) bool) error
}

// SnapshotScanner is a Scanner whose Scans all read the same state (e.g.
// iterators of one Pebble snapshot). Given one, CheckCell scans only the
// key ranges it checks and never reads the idempotency records and
// histories, three quarters of a busy cell's keys (docs/BENCHMARKS.md).
type SnapshotScanner interface {
	Scanner
	// ReadsOneSnapshot marks the guarantee; it does nothing.
	ReadsOneSnapshot()
}

// checkedRanges are the key ranges CheckCell decodes, in key order (the
// outbox before the transfers, the payouts before their work items).
var checkedRanges = [][2][]byte{
	{[]byte("a/"), []byte("a0")}, {[]byte("o/"), []byte("o0")}, {[]byte("p/"), []byte("p0")},
	{[]byte("s/"), []byte("s0")}, {[]byte("t/"), []byte("t0")}, {[]byte("w/"), []byte("w0")},
}

// CellSummary is what CheckCell counted in one cell.
type CellSummary struct {
	CellID   uint64 `json:"cell_id"`
	Accounts int    `json:"accounts"`
	// Transfers and Payouts count records by state, without the enum
	// prefix ("COMPLETED", "IN_FLIGHT", "UNKNOWN", ...).
	Transfers map[string]int `json:"transfers"`
	Payouts   map[string]int `json:"payouts"`
	// Outbox counts cross-cell transfers not yet settled; WorkItems the
	// payouts not yet settled (their w/ work items).
	Outbox    int `json:"outbox"`
	WorkItems int `json:"work_items"`
	// Currencies holds the totals per currency code.
	Currencies map[string]CurrencyTotals `json:"currencies"`
}

// CurrencyTotals are a cell's totals in one currency, in minor units: the
// balances summed over its accounts, and the stored totals of the ledger
// (cell.Totals). The identity is
//
//	balances = deposited + received - sent - in flight - held - paid out
type CurrencyTotals struct {
	BalancesMinor  int64 `json:"balances_minor"`
	DepositedMinor int64 `json:"deposited_minor"`
	ReceivedMinor  int64 `json:"received_minor"`
	SentMinor      int64 `json:"sent_minor"`
	InFlightMinor  int64 `json:"in_flight_minor"`
	HeldMinor      int64 `json:"held_minor"`
	PaidOutMinor   int64 `json:"paid_out_minor"`
	// OverdrawnMinor: the sum of the negative balances (as a positive
	// amount): the cell's exposure to overdraft accounts. Not part of the
	// identity.
	OverdrawnMinor int64 `json:"overdrawn_minor,omitempty"`
}

// expectedBalances is the right side of the identity. Sums wrap modulo
// 2^64 like the ledger's own int64 arithmetic (cell.Totals.Conserved); a
// difference could hide only as a multiple of 2^64, which needs totals
// near the int64 limit.
func (t CurrencyTotals) expectedBalances() int64 {
	return t.DepositedMinor + t.ReceivedMinor - t.SentMinor - t.InFlightMinor - t.HeldMinor - t.PaidOutMinor
}

// recordSums are the totals recomputed from the records they count.
type recordSums struct {
	inFlight, sent, received, held, paidOut int64
}

// outboxEntry is what CheckCell keeps of one outbox record until it meets
// the transfer record.
type outboxEntry struct {
	amountMinor int64
	currency    string
	inFlight    bool // an IN_FLIGHT transfer record was seen
}

// checker is the state of one CheckCell pass.
type checker struct {
	cellID   uint64
	now      time.Time
	stuckAge time.Duration

	summary CellSummary
	sums    map[string]*recordSums
	outbox  map[string]*outboxEntry
	open    map[string]bool // open payouts (PENDING/UNKNOWN) -> work item seen
	// transferStates counts transfers by state for the states that exist
	// (finish moves them into summary.Transfers): cheaper per record than
	// the state's name.
	transferStates [4]int
	currencyNames  map[string]string
	// holds is each held account's unknown_payouts; unknownPayouts counts
	// each account's UNKNOWN payouts. They must agree: a hold without its
	// payout never ends, an UNKNOWN payout without its hold lets the
	// account send money whose payout may have left.
	holds, unknownPayouts map[string]uint32
	findings              []Finding
	err                   error
}

// CheckCell checks one cell's committed state in one pass (see Scanner) and
// returns its summary and findings: NotConserved per currency, BelowLimit
// per account, StuckTransfer per outbox record older than stuckAge,
// StuckPayout per payout PENDING or UNKNOWN created longer than stuckAge
// before now, and Inconsistent where stored totals, index keys or account
// holds disagree with the records. It decodes only the keys it checks (a/,
// o/, p/, s/, t/, w/) and skips the others (idempotency records,
// histories); with a SnapshotScanner it does not even read them. An undecodable value is an
// error naming its key, and the summary and findings are then incomplete.
func CheckCell(cellID uint64, r Scanner, now time.Time, stuckAge time.Duration) (CellSummary, []Finding, error) {
	if stuckAge < 0 {
		return CellSummary{}, nil, fmt.Errorf("reconcile: stuck age %s is negative", stuckAge)
	}
	c := &checker{
		cellID: cellID, now: now, stuckAge: stuckAge,
		summary: CellSummary{CellID: cellID, Transfers: map[string]int{}, Payouts: map[string]int{}, Currencies: map[string]CurrencyTotals{}},
		sums:    map[string]*recordSums{},
		outbox:  map[string]*outboxEntry{},
		open:    map[string]bool{},

		currencyNames:  map[string]string{},
		holds:          map[string]uint32{},
		unknownPayouts: map[string]uint32{},
	}
	var err error
	if _, ok := r.(SnapshotScanner); ok {
		for _, kr := range checkedRanges {
			if err = r.Scan(kr[0], kr[1], c.visit); err != nil || c.err != nil {
				break
			}
		}
	} else {
		err = r.Scan(nil, nil, c.visit)
	}
	if err == nil {
		err = c.err
	}
	if err != nil {
		return c.summary, limitFindings(c.findings), fmt.Errorf("reconcile: cell %d: %w", cellID, err)
	}
	c.finish()
	return c.summary, limitFindings(c.findings), nil
}

// visit checks one key and value; it stops the scan at the first error.
func (c *checker) visit(k, v []byte) bool {
	if len(k) < 2 || k[1] != '/' {
		return true
	}
	switch k[0] {
	case 'a':
		c.err = c.account(k, v)
	case 'o':
		c.err = c.outboxRecord(k, v)
	case 'p':
		c.err = c.payout(k, v)
	case 's':
		c.err = c.total(k, v)
	case 't':
		c.err = c.transfer(k, v)
	case 'w':
		c.workItem(k)
	}
	return c.err == nil
}

func (c *checker) add(f Finding) {
	f.CellID = c.cellID
	c.findings = append(c.findings, f)
}

func (c *checker) sumsOf(currency string) *recordSums {
	s := c.sums[currency]
	if s == nil {
		s = &recordSums{}
		c.sums[currency] = s
	}
	return s
}

// addCurrency applies fn to the totals of currency.
func (c *checker) addCurrency(currency string, fn func(*CurrencyTotals)) {
	t := c.summary.Currencies[currency]
	fn(&t)
	c.summary.Currencies[currency] = t
}

func decodeError(k []byte, what string, err error) error {
	return fmt.Errorf("undecodable %s at key %q: %w", what, k, err)
}

func (c *checker) account(k, v []byte) error {
	var acc pb.Account
	if err := proto.Unmarshal(v, &acc); err != nil {
		return decodeError(k, "account", err)
	}
	id := string(k[2:])
	c.summary.Accounts++
	c.addCurrency(acc.GetCurrency(), func(t *CurrencyTotals) { t.BalancesMinor += acc.GetBalanceMinor() })
	if n := acc.GetUnknownPayouts(); n > 0 {
		c.holds[id] = n
	}
	if acc.GetId() != id {
		c.add(Finding{Kind: Inconsistent, IDs: []string{id}, Currency: acc.GetCurrency(),
			Detail: fmt.Sprintf("the account stored under key a/%s has id %q", id, acc.GetId())})
	}
	if acc.GetBalanceMinor() < 0 {
		c.addCurrency(acc.GetCurrency(), func(t *CurrencyTotals) { t.OverdrawnMinor += -acc.GetBalanceMinor() })
	}
	if acc.GetBalanceMinor() < 0 && !acc.GetAllowNegativeBalance() {
		c.add(Finding{Kind: BelowLimit, IDs: []string{id}, AmountMinor: acc.GetBalanceMinor(), Currency: acc.GetCurrency(),
			Detail: fmt.Sprintf("balance %d %s is below zero without allow_negative_balance", acc.GetBalanceMinor(), acc.GetCurrency())})
	}
	return nil
}

func (c *checker) outboxRecord(k, v []byte) error {
	var rec pb.OutboxRecord
	if err := proto.Unmarshal(v, &rec); err != nil {
		return decodeError(k, "outbox record", err)
	}
	id := string(k[2:])
	t := rec.GetTransfer()
	c.summary.Outbox++
	c.outbox[id] = &outboxEntry{amountMinor: t.GetAmountMinor(), currency: t.GetCurrency()}
	if age := c.now.Sub(time.UnixMilli(rec.GetCreatedAtUnixMs())); age > c.stuckAge {
		c.add(Finding{Kind: StuckTransfer, IDs: []string{id}, AmountMinor: t.GetAmountMinor(), Currency: t.GetCurrency(), Age: age,
			Detail: fmt.Sprintf("credit to cell %d not settled: %q -> %q, debited %s ago", t.GetToCellId(), t.GetFromAccountId(), t.GetToAccountId(), age.Round(time.Second))})
	}
	return nil
}

func (c *checker) payout(k, v []byte) error {
	var rec pb.PayoutRecord
	if err := proto.Unmarshal(v, &rec); err != nil {
		return decodeError(k, "payout", err)
	}
	id := string(k[2:])
	state := rec.GetState()
	c.summary.Payouts[payoutStateName(state)]++
	amount, currency := rec.GetAmountMinor(), rec.GetCurrency()
	switch state {
	case pb.PayoutState_PAYOUT_STATE_SUCCEEDED:
		c.sumsOf(currency).paidOut += amount
	case pb.PayoutState_PAYOUT_STATE_PENDING, pb.PayoutState_PAYOUT_STATE_UNKNOWN:
		c.sumsOf(currency).held += amount
		c.open[id] = false
		if state == pb.PayoutState_PAYOUT_STATE_UNKNOWN {
			c.unknownPayouts[rec.GetAccountId()]++
		}
		if age := c.now.Sub(time.UnixMilli(rec.GetCreatedAtUnixMs())); age > c.stuckAge {
			c.add(Finding{Kind: StuckPayout, IDs: []string{id}, AmountMinor: amount, Currency: currency, Age: age, Detail: stuckPayoutDetail(&rec, c.now)})
		}
	}
	if want := rec.GetAccountId() + "/" + rec.GetPayoutId(); want != id {
		c.add(Finding{Kind: Inconsistent, IDs: []string{id}, Currency: currency,
			Detail: fmt.Sprintf("the payout stored under key p/%s is %q of account %q", id, rec.GetPayoutId(), rec.GetAccountId())})
	}
	if rec.GetBalanceAfterMinor() < 0 && state != pb.PayoutState_PAYOUT_STATE_FAILED {
		c.add(Finding{Kind: Overdraft, IDs: []string{id}, AmountMinor: amount, Currency: currency,
			Detail: fmt.Sprintf("payout %s left account %q at %d %s", payoutStateName(state), rec.GetAccountId(), rec.GetBalanceAfterMinor(), currency)})
	}
	return nil
}

func stuckPayoutDetail(rec *pb.PayoutRecord, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at provider %q", payoutStateName(rec.GetState()), rec.GetProvider())
	if since := rec.GetUnknownSinceUnixMs(); rec.GetState() == pb.PayoutState_PAYOUT_STATE_UNKNOWN && since != 0 {
		fmt.Fprintf(&b, " for %s", now.Sub(time.UnixMilli(since)).Round(time.Second))
	}
	if r := rec.GetReason(); r != "" {
		fmt.Fprintf(&b, ", reason %q", r)
	}
	if f := rec.GetFailedProviders(); len(f) > 0 {
		fmt.Fprintf(&b, ", failed before at %s", strings.Join(f, ", "))
	}
	fmt.Fprintf(&b, "; account %q, created %s ago", rec.GetAccountId(), now.Sub(time.UnixMilli(rec.GetCreatedAtUnixMs())).Round(time.Second))
	return b.String()
}

// total reads one s/<name>/<currency> total. Totals this package does not
// know are skipped, so a newer ledger's totals do not fail an older check.
func (c *checker) total(k, v []byte) error {
	rest := k[2:]
	i := slices.Index(rest, '/')
	if i < 0 {
		return nil
	}
	name, currency := string(rest[:i]), string(rest[i+1:])
	var field func(*CurrencyTotals) *int64
	switch name {
	case "deposited":
		field = func(t *CurrencyTotals) *int64 { return &t.DepositedMinor }
	case "received":
		field = func(t *CurrencyTotals) *int64 { return &t.ReceivedMinor }
	case "sent":
		field = func(t *CurrencyTotals) *int64 { return &t.SentMinor }
	case "inflight":
		field = func(t *CurrencyTotals) *int64 { return &t.InFlightMinor }
	case "held":
		field = func(t *CurrencyTotals) *int64 { return &t.HeldMinor }
	case "paidout":
		field = func(t *CurrencyTotals) *int64 { return &t.PaidOutMinor }
	default:
		return nil
	}
	if len(v) != 8 {
		return fmt.Errorf("undecodable total at key %q: %d bytes, want 8", k, len(v))
	}
	value := int64(binary.BigEndian.Uint64(v))
	c.addCurrency(currency, func(t *CurrencyTotals) { *field(t) = value })
	return nil
}

// transfer counts one transfer record, decoding only the fields it needs
// (decode.go): a cell has millions.
func (c *checker) transfer(k, v []byte) error {
	f, err := decodeTransfer(v)
	if err != nil {
		return decodeError(k, "transfer", err)
	}
	c.countTransfer(k[2:], f.state, f.amountMinor, c.intern(f.currency), f.fromCell, f.toCell)
	outgoing := f.fromCell == 0 || f.toCell != 0 // a credit from another cell debited nobody here
	if outgoing && f.fromBalanceAfterMinor < 0 {
		c.add(Finding{Kind: Overdraft, IDs: []string{string(k[2:])}, AmountMinor: f.amountMinor, Currency: string(f.currency),
			Detail: fmt.Sprintf("transfer left its payer at %d %s", f.fromBalanceAfterMinor, f.currency)})
	}
	return nil
}

// intern returns b as a string, allocating once per distinct currency.
func (c *checker) intern(b []byte) string {
	if s, ok := c.currencyNames[string(b)]; ok {
		return s
	}
	s := string(b)
	c.currencyNames[s] = s
	return s
}

// countTransfer counts one transfer record (id is only valid during the
// call).
func (c *checker) countTransfer(id []byte, state pb.TransferState, amountMinor int64, currency string, fromCell, toCell uint64) {
	if state >= 0 && int(state) < len(c.transferStates) {
		c.transferStates[state]++
	} else {
		c.summary.Transfers[transferStateName(state)]++
	}
	switch {
	case state == pb.TransferState_TRANSFER_STATE_IN_FLIGHT:
		c.sumsOf(currency).inFlight += amountMinor
		if e := c.outbox[string(id)]; e != nil {
			e.inFlight = true
		} else {
			c.add(Finding{Kind: Inconsistent, IDs: []string{string(id)}, AmountMinor: amountMinor, Currency: currency,
				Detail: fmt.Sprintf("transfer is IN_FLIGHT to cell %d without an outbox record: no relay will deliver it", toCell)})
		}
	case state == pb.TransferState_TRANSFER_STATE_COMPLETED && toCell != 0:
		c.sumsOf(currency).sent += amountMinor
	case state == pb.TransferState_TRANSFER_STATE_COMPLETED && fromCell != 0:
		c.sumsOf(currency).received += amountMinor
	}
}

func (c *checker) workItem(k []byte) {
	c.summary.WorkItems++
	id := string(k[2:])
	if _, ok := c.open[id]; ok {
		c.open[id] = true
		return
	}
	c.add(Finding{Kind: Inconsistent, IDs: []string{id},
		Detail: "work item of a payout that is not PENDING or UNKNOWN (or does not exist)"})
}

// finish adds the findings that need the whole pass: index keys without
// their records, totals against record sums, and the identity.
func (c *checker) finish() {
	for state, n := range c.transferStates {
		if n > 0 {
			c.summary.Transfers[transferStateName(pb.TransferState(state))] += n
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.outbox)) {
		if e := c.outbox[id]; !e.inFlight {
			c.add(Finding{Kind: Inconsistent, IDs: []string{id}, AmountMinor: e.amountMinor, Currency: e.currency,
				Detail: "outbox record without an IN_FLIGHT transfer record: the relay would deliver a settled or unknown transfer"})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.open)) {
		if !c.open[id] {
			c.add(Finding{Kind: Inconsistent, IDs: []string{id},
				Detail: "payout is PENDING or UNKNOWN without a work item: no executor will resolve it"})
		}
	}
	accounts := map[string]bool{}
	for id := range c.holds {
		accounts[id] = true
	}
	for id := range c.unknownPayouts {
		accounts[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(accounts)) {
		if held, unknown := c.holds[id], c.unknownPayouts[id]; held != unknown {
			c.add(Finding{Kind: Inconsistent, IDs: []string{id},
				Detail: fmt.Sprintf("account is held by %d unknown payouts (unknown_payouts), but %d of its payouts are UNKNOWN", held, unknown)})
		}
	}
	for cur := range c.sums {
		if _, ok := c.summary.Currencies[cur]; !ok {
			c.summary.Currencies[cur] = CurrencyTotals{}
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(c.summary.Currencies)) {
		t := c.summary.Currencies[cur]
		s := c.sums[cur]
		if s == nil {
			s = &recordSums{}
		}
		for _, m := range []struct {
			name          string
			stored, fromR int64
			records       string
		}{
			{"in flight", t.InFlightMinor, s.inFlight, "IN_FLIGHT transfers"},
			{"sent", t.SentMinor, s.sent, "COMPLETED transfers to other cells"},
			{"received", t.ReceivedMinor, s.received, "credits from other cells"},
			{"held", t.HeldMinor, s.held, "PENDING and UNKNOWN payouts"},
			{"paid out", t.PaidOutMinor, s.paidOut, "SUCCEEDED payouts"},
		} {
			if m.stored != m.fromR {
				c.add(Finding{Kind: Inconsistent, AmountMinor: m.stored - m.fromR, Currency: cur,
					Detail: fmt.Sprintf("%s total %d %s, but the %s sum to %d", m.name, m.stored, cur, m.records, m.fromR)})
			}
		}
		if want := t.expectedBalances(); t.BalancesMinor != want {
			c.add(Finding{Kind: NotConserved, AmountMinor: t.BalancesMinor - want, Currency: cur,
				Detail: fmt.Sprintf("balances %d, want deposited %d + received %d - sent %d - in flight %d - held %d - paid out %d = %d (off by %d)",
					t.BalancesMinor, t.DepositedMinor, t.ReceivedMinor, t.SentMinor, t.InFlightMinor, t.HeldMinor, t.PaidOutMinor, want, t.BalancesMinor-want)})
		}
		if t.OverdrawnMinor != 0 {
			c.add(Finding{Kind: OverdraftExposure, AmountMinor: t.OverdrawnMinor, Currency: cur,
				Detail: fmt.Sprintf("accounts below zero owe %d %s in all", t.OverdrawnMinor, cur)})
		}
	}
}

func transferStateName(s pb.TransferState) string {
	return strings.TrimPrefix(s.String(), "TRANSFER_STATE_")
}

func payoutStateName(s pb.PayoutState) string {
	return strings.TrimPrefix(s.String(), "PAYOUT_STATE_")
}
