package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/router/client"
)

// samplePayouts are fixed records for the printers' golden files.
func samplePayouts() []*pb.PayoutRecord {
	return []*pb.PayoutRecord{
		{PayoutId: "po-2026-01-0001", AccountId: "alice", AmountMinor: 250000, Currency: "CNY", State: pb.PayoutState_PAYOUT_STATE_UNKNOWN,
			Provider: "bank-a", Reason: "provider timed out\tafter submit", CreatedAtUnixMs: 1767323045000, UpdatedAtUnixMs: 1767323046000,
			UnknownSinceUnixMs: 1767323046000, BalanceAfterMinor: 750000},
		{PayoutId: "po-2026-01-0002", AccountId: "bob", AmountMinor: 1999, Currency: "USD", State: pb.PayoutState_PAYOUT_STATE_SUCCEEDED,
			Provider: "bank-b", FailedProviders: []string{"bank-a"}, ProviderRef: "b-77", CreatedAtUnixMs: 1767323047000,
			UpdatedAtUnixMs: 1767323048500, BalanceAfterMinor: 1},
		{PayoutId: "po-2026-01-0003", AccountId: "carol", AmountMinor: 10, Currency: "CNY", State: pb.PayoutState_PAYOUT_STATE_PENDING,
			Provider: "bank-a", CreatedAtUnixMs: 1767323049000, UpdatedAtUnixMs: 1767323049000},
	}
}

// The printers, against golden files (go test -run PayoutsGolden -update
// rewrites them).
func TestPayoutsGolden(t *testing.T) {
	list := &pb.ListPayoutsResponse{Payouts: samplePayouts(), NextPageToken: "cDEvMy8"}
	var table bytes.Buffer
	if err := printPayoutList(&table, list, pb.PayoutState_PAYOUT_STATE_UNSPECIFIED, 0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "payouts-list.table", table.String())
	for _, want := range []string{"po-2026-01-0001  alice", "unknown", "provider timed out after submit", "3 payouts in state all of every cell",
		"--page-token cDEvMy8"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := writeProtoJSON(&js, list); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "payouts-list.json", js.String())
	var back pb.ListPayoutsResponse
	if err := protojson.Unmarshal(js.Bytes(), &back); err != nil || len(back.GetPayouts()) != 3 || back.GetNextPageToken() != "cDEvMy8" {
		t.Errorf("-o json is not the list: %v\n%s", err, js.String())
	}

	var empty bytes.Buffer
	if err := printPayoutList(&empty, &pb.ListPayoutsResponse{}, pb.PayoutState_PAYOUT_STATE_UNKNOWN, 3); err != nil {
		t.Fatal(err)
	}
	if got, want := empty.String(), "no payouts in state unknown of cell 3\n"; got != want {
		t.Errorf("empty list = %q, want %q", got, want)
	}

	var one bytes.Buffer
	if err := printPayout(&one, samplePayouts()[1]); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "payouts-get.table", one.String())
	var unknown bytes.Buffer
	if err := printPayout(&unknown, samplePayouts()[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unknown.String(), "state          unknown since 2026-01-02T03:04:06Z\n") {
		t.Errorf("an unknown payout does not say since when:\n%s", unknown.String())
	}
}

// fakePayments serves ListPayouts over a fixed list (page tokens are
// indexes) and GetPayout of it, recording the queries.
type fakePayments struct {
	pb.UnimplementedPaymentsServer
	records []*pb.PayoutRecord

	mu      sync.Mutex
	queries []*pb.PayoutListQuery
}

func (f *fakePayments) ListPayouts(_ context.Context, q *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	from := 0
	if q.GetPageToken() != "" {
		n, err := strconv.Atoi(q.GetPageToken())
		if err != nil {
			return nil, cell.InputStatus(&cell.InputError{Field: "page_token", Reason: "not a token from a previous page"}, 0)
		}
		from = n
	}
	var matching []*pb.PayoutRecord
	for _, r := range f.records {
		if q.GetState() == pb.PayoutState_PAYOUT_STATE_UNSPECIFIED || r.GetState() == q.GetState() {
			matching = append(matching, r)
		}
	}
	to := min(len(matching), from+int(q.GetPageSize()))
	out := &pb.ListPayoutsResponse{Payouts: matching[min(from, to):to]}
	if to < len(matching) {
		out.NextPageToken = strconv.Itoa(to)
	}
	return out, nil
}

func (f *fakePayments) GetPayout(_ context.Context, q *pb.PayoutLookup) (*pb.PayoutRecord, error) {
	for _, r := range f.records {
		if r.GetPayoutId() == q.GetPayoutId() && r.GetAccountId() == q.GetAccountId() {
			return r, nil
		}
	}
	return nil, rpcstatus.Error(codes.NotFound, "PAYOUT_NOT_FOUND", fmt.Sprintf("payout %q does not exist", q.GetPayoutId()),
		map[string]string{rpcstatus.MetaField: "payout_id"})
}

func startFakePayments(t *testing.T, f *fakePayments) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterPaymentsServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// list follows the router's pages, passes state and cell, stops at
// --limit with the token to go on with, and goes on from it.
func TestPayoutsListFollowsPages(t *testing.T) {
	f := &fakePayments{}
	for i := range 7 {
		f.records = append(f.records, &pb.PayoutRecord{PayoutId: fmt.Sprintf("po-%d", i), AccountId: "alice", State: pb.PayoutState_PAYOUT_STATE_UNKNOWN})
	}
	f.records = append(f.records, &pb.PayoutRecord{PayoutId: "po-done", AccountId: "alice", State: pb.PayoutState_PAYOUT_STATE_SUCCEEDED})
	addr := startFakePayments(t, f)

	code, stdout, stderr := runCLI(t, "payouts", "list", "--router", addr, "--state", "UNKNOWN", "--cell", "2", "--limit", "5", "--insecure")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "5 payouts in state unknown of cell 2") || !strings.Contains(stdout, "--page-token 5\n") || strings.Contains(stdout, "po-5") {
		t.Fatalf("want the first 5 and the token to go on with:\n%s", stdout)
	}
	for _, q := range f.queries {
		if q.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN || q.GetCellId() != 2 || q.GetPageSize() < 1 || q.GetPageSize() > 5 {
			t.Fatalf("query %v", q)
		}
	}

	code, stdout, stderr = runCLI(t, "payouts", "list", "--router", addr, "--state", "unknown", "--page-token", "5", "-o", "json", "--insecure")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rest pb.ListPayoutsResponse
	if err := protojson.Unmarshal([]byte(stdout), &rest); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if len(rest.GetPayouts()) != 2 || rest.GetPayouts()[0].GetPayoutId() != "po-5" || rest.GetNextPageToken() != "" {
		t.Fatalf("rest %v", &rest)
	}

	// Every state by default: all eight, in pages of at most 500.
	code, stdout, _ = runCLI(t, "payouts", "list", "--router", addr, "--insecure")
	if code != exitOK || !strings.Contains(stdout, "8 payouts in state all of every cell") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
}

func TestPayoutsGet(t *testing.T) {
	f := &fakePayments{records: samplePayouts()}
	addr := startFakePayments(t, f)
	code, stdout, stderr := runCLI(t, "payouts", "get", "--router", addr, "--id", "po-2026-01-0002", "--account", "bob", "--insecure")
	if code != exitOK || !strings.Contains(stdout, "state          succeeded\n") || !strings.Contains(stdout, "failed at      bank-a\n") {
		t.Fatalf("exit %d stderr %q:\n%s", code, stderr, stdout)
	}
	code, stdout, _ = runCLI(t, "payouts", "get", "--router", addr, "--id", "po-2026-01-0002", "--account", "bob", "-o", "json", "--insecure")
	var rec pb.PayoutRecord
	if err := protojson.Unmarshal([]byte(stdout), &rec); code != exitOK || err != nil || rec.GetProviderRef() != "b-77" {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	code, stdout, stderr = runCLI(t, "payouts", "get", "--router", addr, "--id", "po-x", "--account", "bob", "--insecure")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "PAYOUT_NOT_FOUND") || !strings.Contains(stderr, `"po-x"`) {
		t.Fatalf("exit %d stdout %q stderr %q; want 1 and PAYOUT_NOT_FOUND", code, stdout, stderr)
	}
}

// Exit codes: 2 for bad flags (and a request the router finds invalid,
// naming the flag), 4 when no router answers.
func TestPayoutsExitCodes(t *testing.T) {
	addr := startFakePayments(t, &fakePayments{})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"payouts"}, exitUsage, "a subcommand is required"},
		{[]string{"payouts", "list"}, exitUsage, "--router is required"},
		{[]string{"payouts", "list", "--router", addr, "--state", "lost"}, exitUsage, `--state "lost": want pending, succeeded, failed, unknown or all`},
		{[]string{"payouts", "list", "--router", addr, "--state", "unspecified"}, exitUsage, "--state"},
		{[]string{"payouts", "list", "--router", addr, "--limit", "0"}, exitUsage, "--limit 0"},
		{[]string{"payouts", "list", "--router", addr, "--cell", "-1"}, exitUsage, "--cell"},
		{[]string{"payouts", "list", "--router", addr, "-o", "yaml"}, exitUsage, "unknown output format"},
		{[]string{"payouts", "list", "--router", addr, "--page-token", "x"}, exitUsage, "flag --page-token"},
		{[]string{"payouts", "get", "--router", addr}, exitUsage, "--id and --account are required"},
		{[]string{"payouts", "get", "--router", addr, "--id", "po-1"}, exitUsage, "--account is required"},
		{[]string{"payouts", "list", "--router", "127.0.0.1:1", "--timeout", "500ms"}, exitUnhealthy, "router 127.0.0.1:1 could not be asked"},
		{[]string{"payouts", "get", "--router", "127.0.0.1:1", "--timeout", "500ms", "--id", "po-1", "--account", "a"}, exitUnhealthy, "could not be asked"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := tc.args
			if len(args) > 1 { // a fake router in plain TCP
				args = append(slices.Clone(args), "--insecure")
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want %d with %q", code, stdout, stderr, tc.code, tc.want)
			}
		})
	}
}

// Against a real cluster with simulated providers: a payout that the
// provider leaves processing is UNKNOWN, one that it pays SUCCEEDED; list
// --state unknown (every cell, through the router's fan-out) shows only
// the first, get shows each, and the HTTP API lists the same.
func TestPayoutsAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	// The cells answer an unsettled payout after Payouts.Wait; at its
	// default (1 s, the router's whole attempt timeout) that answer comes
	// too late for the router, which retries until its deadline and the
	// client reports the outcome unknown. A short wait keeps the answer
	// (UNKNOWN) inside the attempt.
	c, err := cluster.Start(cluster.Config{Dir: t.TempDir(), Seed: 1, Payouts: cell.PayoutConfig{Wait: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	useClusterCerts(t, c)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	// Two payers in different cells, so that the listing needs the fan-out.
	paid, held := "acct-0", ""
	paidCell, _ := c.Topology.CellOfAccount(paid)
	for i := 1; held == ""; i++ {
		if cl, _ := c.Topology.CellOfAccount(fmt.Sprintf("acct-%d", i)); cl.ID != paidCell.ID {
			held = fmt.Sprintf("acct-%d", i)
		}
	}
	cli, err := client.New(client.Config{Region: "hangzhou", Routers: c.RouterAddrs(), Deadline: 20 * time.Second, TLS: c.As(auth.RoleClient).ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, acct := range []string{paid, held} {
		if _, err := cli.CreateAccount(ctx, acct, "CNY", client.WithIdempotencyKey("create-"+acct)); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Deposit(ctx, acct, 10000, "CNY", "bank-in", client.WithIdempotencyKey("dep-"+acct)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Payout(ctx, paid, 2000, "CNY", client.WithPayoutID("po-paid")); err != nil {
		t.Fatal(err)
	}
	if err := c.Sim("bank-a").SetBehaviour(channel.Behaviour{Mode: channel.ModeProcessing}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Payout(ctx, held, 3000, "CNY", client.WithPayoutID("po-held")); err != nil {
		t.Fatal(err)
	}
	routerAddr := c.RouterAddr("hz-b")
	var table string
	waitUntil(t, 30*time.Second, "po-held is listed UNKNOWN", func() (bool, string) {
		code, stdout, stderr := runCLI(t, "payouts", "list", "--router", routerAddr, "--state", "unknown")
		table = stdout
		return code == exitOK && strings.Contains(stdout, "po-held"), stdout + stderr
	})
	if strings.Contains(table, "po-paid") || !strings.Contains(table, "1 payout in state unknown of every cell") || !strings.Contains(table, held) {
		t.Fatalf("list --state unknown:\n%s", table)
	}
	waitUntil(t, 30*time.Second, "po-paid is SUCCEEDED", func() (bool, string) {
		code, stdout, stderr := runCLI(t, "payouts", "get", "--router", routerAddr, "--id", "po-paid", "--account", paid)
		return code == exitOK && strings.Contains(stdout, "state          succeeded\n"), stdout + stderr
	})
	code, stdout, stderr := runCLI(t, "payouts", "list", "--router", routerAddr, "--cell", strconv.FormatUint(paidCell.ID, 10), "-o", "json")
	var list pb.ListPayoutsResponse
	if err := protojson.Unmarshal([]byte(stdout), &list); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, stdout, stderr)
	}
	if len(list.GetPayouts()) != 1 || list.GetPayouts()[0].GetPayoutId() != "po-paid" {
		t.Fatalf("cell %d lists %v, want only po-paid", paidCell.ID, list.GetPayouts())
	}
	code, _, stderr = runCLI(t, "payouts", "get", "--router", routerAddr, "--id", "po-none", "--account", paid)
	if code != exitFailure || !strings.Contains(stderr, "PAYOUT_NOT_FOUND") {
		t.Fatalf("get of a missing payout: exit %d, %s", code, stderr)
	}

	// The HTTP API of another router lists the same.
	resp, err := http.Get("http://" + c.HTTPAddr("sh-a") + "/v1/payouts?state=Unknown")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Payouts []struct {
			PayoutID string `json:"payout_id"`
			State    string `json:"state"`
		} `json:"payouts"`
	}
	if err := json.Unmarshal(body, &got); resp.StatusCode != 200 || err != nil || len(got.Payouts) != 1 ||
		got.Payouts[0].PayoutID != "po-held" || got.Payouts[0].State != "PAYOUT_STATE_UNKNOWN" {
		t.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, body)
	}
}
