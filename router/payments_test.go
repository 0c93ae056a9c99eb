package router

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

// fakeCells is the Cell service of every node of a test topology: each
// node answers for every cell as if it led it, from one shared store.
// ListPayouts pages like the real cell (by payout id; the token is the hex
// of the next id).
type fakeCells struct {
	pb.UnimplementedCellServer

	mu       sync.Mutex
	payouts  map[uint64][]*pb.PayoutRecord // by cell, sorted by id
	down     map[uint64]bool               // cells that answer UNAVAILABLE
	delay    time.Duration                 // before every ListPayouts answer
	calls    []string                      // "Method cell"
	inFlight int
	peak     int // most ListPayouts in flight at once
}

func (f *fakeCells) note(method string, cellID uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %d", method, cellID))
}

func (f *fakeCells) callsMade() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeCells) ListPayouts(ctx context.Context, req *pb.ListPayoutsRequest) (*pb.ListPayoutsResponse, error) {
	f.note("ListPayouts", req.GetCellId())
	f.mu.Lock()
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	down, delay, all := f.down[req.GetCellId()], f.delay, slices.Clone(f.payouts[req.GetCellId()])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay)
	}
	if down {
		return nil, status.Error(codes.Unavailable, "fake: cell is down")
	}
	n := int(req.GetPageSize())
	if n == 0 {
		n = 50
	}
	from := ""
	if req.GetPageToken() != "" {
		b, err := hex.DecodeString(req.GetPageToken())
		if err != nil || len(b) == 0 {
			return nil, cell.InputStatus(&cell.InputError{Field: "page_token", Reason: "not a token"}, req.GetCellId())
		}
		from = string(b)
	}
	out := &pb.ListPayoutsResponse{}
	for _, rec := range all {
		if rec.GetPayoutId() < from || (req.GetState() != pb.PayoutState_PAYOUT_STATE_UNSPECIFIED && rec.GetState() != req.GetState()) {
			continue
		}
		if len(out.Payouts) == n {
			out.NextPageToken = hex.EncodeToString([]byte(rec.GetPayoutId()))
			break
		}
		out.Payouts = append(out.Payouts, rec)
	}
	return out, nil
}

func (f *fakeCells) Payout(ctx context.Context, req *pb.PayoutRequest) (*pb.PayoutRecord, error) {
	f.note("Payout", req.GetCellId())
	c := req.GetCommand()
	return &pb.PayoutRecord{PayoutId: c.GetPayoutId(), AccountId: c.GetAccountId(), AmountMinor: c.GetAmountMinor(),
		Currency: c.GetCurrency(), State: pb.PayoutState_PAYOUT_STATE_PENDING, Provider: c.GetProvider()}, nil
}

func (f *fakeCells) GetPayout(ctx context.Context, req *pb.GetPayoutRequest) (*pb.PayoutRecord, error) {
	f.note("GetPayout", req.GetCellId())
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rec := range f.payouts[req.GetCellId()] {
		if rec.GetPayoutId() == req.GetPayoutId() {
			return rec, nil
		}
	}
	return nil, status.Error(codes.NotFound, "fake: no such payout")
}

// startFakeCells serves fakeCells on three nodes (one per site) and
// returns the Payments service of a router over them, with cells cells.
func startFakeCells(t *testing.T, cells int, f *fakeCells) *payments {
	t.Helper()
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
	}
	for i, site := range spec.Sites {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		pb.RegisterCellServer(srv, f)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		spec.Nodes = append(spec.Nodes, topology.Node{ID: site.ID + "-1", Site: site.ID,
			RaftAddr: fmt.Sprintf("127.0.0.1:%d", i+1), ClientAddr: lis.Addr().String()})
	}
	for i := range cells {
		spec.Cells = append(spec.Cells, topology.Cell{ID: uint64(i + 1), Home: spec.Sites[i%3].ID,
			Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"},
			Slots:    []topology.SlotRange{{First: i * topology.Slots / cells, Last: (i+1)*topology.Slots/cells - 1}}})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := forward.DefaultConfig()
	cfg.RequestTimeout, cfg.AttemptTimeout = 500*time.Millisecond, 200*time.Millisecond
	conns := forward.NewPool(nil, nil)
	t.Cleanup(func() { _ = conns.Close() })
	return &payments{topo: topo, fwd: forward.New(topo, conns, forward.NewRoutes(), cfg)}
}

// payoutsOf builds sorted records "c<cell>-<k>" with the states given.
func payoutsOf(cellID uint64, states ...pb.PayoutState) []*pb.PayoutRecord {
	var out []*pb.PayoutRecord
	for k, s := range states {
		out = append(out, &pb.PayoutRecord{PayoutId: fmt.Sprintf("c%d-%02d", cellID, k), AccountId: "acct", State: s})
	}
	return out
}

func ids(recs []*pb.PayoutRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.GetPayoutId())
	}
	return out
}

// wantInvalid checks an INVALID_ARGUMENT naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
	}
	info, ok := rpcstatus.Info(err)
	if !ok || info.GetMetadata()[rpcstatus.MetaField] != field {
		t.Fatalf("err = %v (info %v), want field %s", err, info, field)
	}
}

const (
	pending   = pb.PayoutState_PAYOUT_STATE_PENDING
	succeeded = pb.PayoutState_PAYOUT_STATE_SUCCEEDED
	failed    = pb.PayoutState_PAYOUT_STATE_FAILED
	unknown   = pb.PayoutState_PAYOUT_STATE_UNKNOWN
)

// Every page size walks every cell's payouts exactly once, in cell order,
// each page at most page_size long, whatever the state filter.
func TestListPayoutsPagesAcrossCells(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{
		1: payoutsOf(1, unknown, succeeded, unknown),
		// cell 2 has none
		3: payoutsOf(3, unknown, failed, unknown, unknown, pending),
		4: payoutsOf(4, succeeded),
	}}
	p := startFakeCells(t, 4, f)
	for _, state := range []pb.PayoutState{pb.PayoutState_PAYOUT_STATE_UNSPECIFIED, unknown, pending} {
		var want []string
		for _, id := range []uint64{1, 2, 3, 4} {
			for _, r := range f.payouts[id] {
				if state == pb.PayoutState_PAYOUT_STATE_UNSPECIFIED || r.GetState() == state {
					want = append(want, r.GetPayoutId())
				}
			}
		}
		for pageSize := uint32(1); pageSize <= 10; pageSize++ {
			t.Run(fmt.Sprintf("%s/size-%d", state, pageSize), func(t *testing.T) {
				var got []string
				token := ""
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatalf("no end after %d pages: %v", pages, got)
					}
					resp, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{State: state, PageSize: pageSize, PageToken: token})
					if err != nil {
						t.Fatalf("page %d: %v", pages, err)
					}
					if uint32(len(resp.GetPayouts())) > pageSize {
						t.Fatalf("page %d has %d payouts, more than %d", pages, len(resp.GetPayouts()), pageSize)
					}
					got = append(got, ids(resp.GetPayouts())...)
					if token = resp.GetNextPageToken(); token == "" {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("listed %v, want %v", got, want)
				}
			})
		}
	}
}

// A first page of 4 with two payouts in cell 1 and five in cell 3: cell 3
// is asked again for the two that fit, so the token continues after them.
func TestListPayoutsTokenNamesCellAndPosition(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{
		1: payoutsOf(1, unknown, unknown),
		3: payoutsOf(3, unknown, unknown, unknown, unknown, unknown),
	}}
	p := startFakeCells(t, 3, f)
	resp, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{State: unknown, PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(resp.GetPayouts()); !slices.Equal(got, []string{"c1-00", "c1-01", "c3-00", "c3-01"}) {
		t.Fatalf("page %v", got)
	}
	raw, err := base64.RawURLEncoding.DecodeString(resp.GetNextPageToken())
	if want := "p1/3/" + hex.EncodeToString([]byte("c3-02")); err != nil || string(raw) != want {
		t.Fatalf("token decodes to %q (%v), want %q", raw, err, want)
	}
	next, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{State: unknown, PageSize: 4, PageToken: resp.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(next.GetPayouts()); !slices.Equal(got, []string{"c3-02", "c3-03", "c3-04"}) || next.GetNextPageToken() != "" {
		t.Fatalf("second page %v, token %q", got, next.GetNextPageToken())
	}
}

// With cell_id only that cell is asked, and its token is refused for
// another cell.
func TestListPayoutsOneCell(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{
		1: payoutsOf(1, unknown),
		2: payoutsOf(2, unknown, unknown, unknown),
	}}
	p := startFakeCells(t, 3, f)
	resp, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{CellId: 2, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(resp.GetPayouts()); !slices.Equal(got, []string{"c2-00", "c2-01"}) || resp.GetNextPageToken() == "" {
		t.Fatalf("page %v token %q", got, resp.GetNextPageToken())
	}
	for _, c := range f.callsMade() {
		if c != "ListPayouts 2" {
			t.Fatalf("asked %q; want only cell 2", c)
		}
	}
	_, err = p.ListPayouts(context.Background(), &pb.PayoutListQuery{CellId: 1, PageToken: resp.GetNextPageToken()})
	wantInvalid(t, err, "page_token")
	// Without cell_id the token of a cell-2 listing continues from there.
	rest, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{PageToken: resp.GetNextPageToken()})
	if err != nil || !slices.Equal(ids(rest.GetPayouts()), []string{"c2-02"}) {
		t.Fatalf("rest %v, %v", ids(rest.GetPayouts()), err)
	}
}

// Bad input is refused naming its field, before any cell is asked.
func TestListPayoutsBadInput(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	f := &fakeCells{}
	p := startFakeCells(t, 3, f)
	for _, tc := range []struct {
		name  string
		q     *pb.PayoutListQuery
		field string
	}{
		{"state out of range", &pb.PayoutListQuery{State: 99}, "state"},
		{"cell not in topology", &pb.PayoutListQuery{CellId: 4}, "cell_id"},
		{"token not base64", &pb.PayoutListQuery{PageToken: "not a token!"}, "page_token"},
		{"token of another version", &pb.PayoutListQuery{PageToken: enc("p2/1/00")}, "page_token"},
		{"token without cell", &pb.PayoutListQuery{PageToken: enc("p1//00")}, "page_token"},
		{"token of cell 0", &pb.PayoutListQuery{PageToken: enc("p1/0/00")}, "page_token"},
		{"token of an unknown cell", &pb.PayoutListQuery{PageToken: enc("p1/9/00")}, "page_token"},
		{"token too long", &pb.PayoutListQuery{PageToken: strings.Repeat("A", 2000)}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.ListPayouts(context.Background(), tc.q)
			wantInvalid(t, err, tc.field)
		})
	}
	if calls := f.callsMade(); len(calls) != 0 {
		t.Fatalf("cells asked despite bad input: %v", calls)
	}
	// A well-formed wrapper around a bad cell token: the cell refuses it,
	// naming the same field.
	_, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{PageToken: enc("p1/2/zz")})
	wantInvalid(t, err, "page_token")
}

// A cell that does not answer fails the whole listing, naming the cell.
func TestListPayoutsCellDownFailsTheListing(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{1: payoutsOf(1, unknown), 3: payoutsOf(3, unknown)},
		down: map[uint64]bool{2: true}}
	p := startFakeCells(t, 3, f)
	resp, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{State: unknown})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "cell 2") {
		t.Fatalf("resp %v err %v; want UNAVAILABLE naming cell 2", resp, err)
	}
}

// Twenty cells: at most payoutFanoutCellsMax are asked at once, and a
// page that the first cells fill asks no more than the first wave.
func TestListPayoutsBoundedFanout(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{}, delay: 20 * time.Millisecond}
	for id := uint64(1); id <= 20; id++ {
		f.payouts[id] = payoutsOf(id, unknown)
	}
	p := startFakeCells(t, 20, f)
	resp, err := p.ListPayouts(context.Background(), &pb.PayoutListQuery{PageSize: 100})
	if err != nil || len(resp.GetPayouts()) != 20 || resp.GetNextPageToken() != "" {
		t.Fatalf("got %d payouts, token %q, err %v", len(resp.GetPayouts()), resp.GetNextPageToken(), err)
	}
	if f.peak > payoutFanoutCellsMax || f.peak < 2 {
		t.Fatalf("%d cells asked at once, want 2..%d", f.peak, payoutFanoutCellsMax)
	}
	before := len(f.callsMade())
	resp, err = p.ListPayouts(context.Background(), &pb.PayoutListQuery{PageSize: 3})
	if err != nil || !slices.Equal(ids(resp.GetPayouts()), []string{"c1-00", "c2-00", "c3-00"}) {
		t.Fatalf("page %v, %v", ids(resp.GetPayouts()), err)
	}
	if asked := len(f.callsMade()) - before; asked > payoutFanoutCellsMax {
		t.Fatalf("a page of 3 asked %d cells", asked)
	}
}

func TestPayoutRoutesByAccountAndValidates(t *testing.T) {
	f := &fakeCells{}
	p := startFakeCells(t, 3, f)
	owner, _ := p.topo.CellOfAccount("alice")
	rec, err := p.Payout(context.Background(), &pb.Payout{PayoutId: "po-1", AccountId: "alice", AmountMinor: 500, Currency: "CNY"})
	if err != nil || rec.GetPayoutId() != "po-1" {
		t.Fatalf("rec %v err %v", rec, err)
	}
	if calls := f.callsMade(); !slices.Equal(calls, []string{fmt.Sprintf("Payout %d", owner.ID)}) {
		t.Fatalf("calls %v, want one Payout to cell %d", calls, owner.ID)
	}
	for _, tc := range []struct {
		name  string
		c     *pb.Payout
		field string
	}{
		{"no payout id", &pb.Payout{AccountId: "alice", AmountMinor: 5, Currency: "CNY"}, "payout_id"},
		{"bad payout id", &pb.Payout{PayoutId: "po/1", AccountId: "alice", AmountMinor: 5, Currency: "CNY"}, "payout_id"},
		{"no account", &pb.Payout{PayoutId: "po-2", AmountMinor: 5, Currency: "CNY"}, "account_id"},
		{"bad currency", &pb.Payout{PayoutId: "po-2", AccountId: "alice", AmountMinor: 5, Currency: "XX"}, "currency"},
		{"bad provider", &pb.Payout{PayoutId: "po-2", AccountId: "alice", AmountMinor: 5, Currency: "CNY", Provider: "a b"}, "provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Payout(context.Background(), tc.c)
			wantInvalid(t, err, tc.field)
		})
	}
	if calls := f.callsMade(); len(calls) != 1 {
		t.Fatalf("invalid payouts were forwarded: %v", calls)
	}
}

func TestGetPayoutRoutesByAccountAndValidates(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{}}
	p := startFakeCells(t, 3, f)
	owner, _ := p.topo.CellOfAccount("alice")
	f.payouts[owner.ID] = []*pb.PayoutRecord{{PayoutId: "po-1", AccountId: "alice", State: unknown}}
	rec, err := p.GetPayout(context.Background(), &pb.PayoutLookup{PayoutId: "po-1", AccountId: "alice"})
	if err != nil || rec.GetState() != unknown {
		t.Fatalf("rec %v err %v", rec, err)
	}
	_, err = p.GetPayout(context.Background(), &pb.PayoutLookup{AccountId: "alice"})
	wantInvalid(t, err, "payout_id")
	_, err = p.GetPayout(context.Background(), &pb.PayoutLookup{PayoutId: "po-1"})
	wantInvalid(t, err, "account_id")
	if calls := f.callsMade(); len(calls) != 1 {
		t.Fatalf("calls %v, want one GetPayout", calls)
	}
}
