package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/router/client"
	"github.com/cellpay/cellpay/router/control"
)

// sampleOverdraftList is a hand-made list: one account overdrawn, one not.
func sampleOverdraftList() *pb.ListOverdraftAccountsResponse {
	return &pb.ListOverdraftAccountsResponse{
		AnsweredBy: "hz-b-1",
		Accounts: []*pb.OverdraftAccount{
			{CellId: 2, Operator: "alice", Reason: "settlement float for partner X, ticket OPS-123",
				Account: &pb.Account{Id: "float-cny", Currency: "CNY", BalanceMinor: -5_000_000, AllowNegativeBalance: true, CreatedAtUnixMs: 1767323045000, Version: 3}},
			{CellId: 1, Operator: "bob", Reason: "card scheme prefunding",
				Account: &pb.Account{Id: "prefund-usd", Currency: "USD", BalanceMinor: 0, AllowNegativeBalance: true, CreatedAtUnixMs: 1767323046500, Version: 1}},
		},
	}
}

// The printers, against golden files (go test -run OverdraftAccountGolden
// -update rewrites them).
func TestOverdraftAccountGolden(t *testing.T) {
	list := sampleOverdraftList()
	var created bytes.Buffer
	if err := printOverdraftCreated(&created, list.GetAccounts()[0], "overdraft:float-cny"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account-create.table", created.String())

	var table bytes.Buffer
	if err := printOverdraftList(&table, list); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account-list.table", table.String())
	for _, want := range []string{"float-cny    2     -5000000", "2 overdraft accounts (answered by hz-b-1)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, table.String())
		}
	}

	var js bytes.Buffer
	if err := writeProtoJSON(&js, list); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account-list.json", js.String())
	var back pb.ListOverdraftAccountsResponse
	if err := protojson.Unmarshal(js.Bytes(), &back); err != nil || len(back.GetAccounts()) != 2 {
		t.Errorf("-o json is not the list: %v\n%s", err, js.String())
	}

	var replayed bytes.Buffer
	again := list.GetAccounts()[0]
	again.Replayed = true
	if err := printOverdraftCreated(&replayed, again, "overdraft:float-cny"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(replayed.String(), "overdraft account float-cny was already opened by a request with key overdraft:float-cny") {
		t.Errorf("replayed:\n%s", replayed.String())
	}
}

// Bad arguments are refused before anything is asked.
func TestOverdraftAccountUsageErrors(t *testing.T) {
	t.Setenv(tokenEnv, "")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"account"}, exitUsage, "a subcommand is required"},
		{[]string{"account", "create", "--account", "a", "--currency", "CNY", "--config", minimalFile}, exitUsage, "through the Payments API of a router"},
		{[]string{"account", "create", "--overdraft", "--config", minimalFile}, exitUsage, "--account is required\n--currency is required\n--reason is required"},
		{[]string{"account", "create", "--overdraft", "--account", "a", "--currency", "CNY", "--reason", "r"}, exitUsage, "--config is required"},
		{[]string{"account", "create", "--overdraft", "--account", "a", "--currency", "CNY", "--reason", "r", "--config", minimalFile}, exitDenied, "need an operator token"},
		{[]string{"account", "list", "--config", minimalFile}, exitUsage, "pass --overdraft"},
		{[]string{"account", "list", "--overdraft", "--config", minimalFile, "-o", "yaml"}, exitUsage, "unknown output format"},
		{[]string{"account", "list", "--overdraft", "--config", minimalFile}, exitDenied, "need an operator token"},
	} {
		code, stdout, stderr := runCLI(t, tt.args...)
		if code != tt.code || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, tt.code, tt.want)
		}
	}
}

// End to end on an in-process cluster: open, open again, refusals, an
// overdraft through the Payments API, the list.
func TestOverdraftAccountAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, err := cluster.Start(cluster.Config{Dir: t.TempDir(), Seed: 1, Control: func(cc *control.ControlConfig) {
		cc.Operators = map[string]string{"alice": control.TokenSHA256(drillToken)}
		cc.Reconcile.Disabled = true
	}})
	if err != nil {
		t.Fatal(err)
	}
	useClusterCerts(t, c)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	config := writeTopologyFile(t, c.Topology.Spec())
	create := []string{"account", "create", "--overdraft", "--account", "float-1", "--currency", "CNY", "--reason", "settlement float, OPS-1", "--config", config}

	code, stdout, stderr := runCLI(t, append(create, "--token", "wrong")...)
	if code != exitDenied || !strings.Contains(stderr, "token is not known") {
		t.Fatalf("wrong token: exit %d, stdout %q, stderr %q; want %d", code, stdout, stderr, exitDenied)
	}
	t.Setenv(tokenEnv, drillToken)
	code, stdout, stderr = runCLI(t, create...)
	if code != exitOK || !strings.Contains(stdout, "opened overdraft account float-1 in cell ") || !strings.Contains(stdout, "alice") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("create:\n%s", stdout)
	code, stdout, stderr = runCLI(t, append(create, "-o", "json")...)
	var again pb.OverdraftAccount
	if err := protojson.Unmarshal([]byte(stdout), &again); code != exitOK || err != nil || !again.GetReplayed() || !again.GetAccount().GetAllowNegativeBalance() {
		t.Fatalf("create again -o json: exit %d, %v, %q, stderr %q; want replayed", code, err, stdout, stderr)
	}
	// The same key with another currency: refused by the ledger.
	code, _, stderr = runCLI(t, "account", "create", "--overdraft", "--account", "float-1", "--currency", "USD", "--reason", "r", "--config", config)
	if code != exitRefused || !strings.Contains(stderr, "IDEMPOTENCY_KEY_REUSED") {
		t.Fatalf("key reused: exit %d, stderr %q; want %d", code, stderr, exitRefused)
	}
	code, _, stderr = runCLI(t, "account", "create", "--overdraft", "--account", "float 2", "--currency", "CNY", "--reason", "r", "--config", config)
	if code != exitUsage || !strings.Contains(stderr, "account_id") {
		t.Fatalf("bad account id: exit %d, stderr %q; want %d", code, stderr, exitUsage)
	}

	// Below zero through the public API; the list shows it.
	cli, err := client.New(client.Config{Region: "hangzhou", Routers: c.RouterAddrs(), Deadline: 20 * time.Second, TLS: c.As(auth.RoleClient).ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.CreateAccount(ctx, "payee-1", "CNY", client.WithIdempotencyKey("create-payee-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Transfer(ctx, "float-1", "payee-1", 5_000_000, "CNY", client.WithTransferID("t-1")); err != nil {
		t.Fatalf("transfer from the overdraft account: %v", err)
	}
	code, stdout, stderr = runCLI(t, "account", "list", "--overdraft", "--config", config, "-o", "json")
	var list pb.ListOverdraftAccountsResponse
	if err := protojson.Unmarshal([]byte(stdout), &list); code != exitOK || err != nil {
		t.Fatalf("list -o json: exit %d, %v: %s%s", code, err, stdout, stderr)
	}
	if len(list.GetAccounts()) != 1 || list.GetAccounts()[0].GetAccount().GetBalanceMinor() != -5_000_000 || list.GetAccounts()[0].GetOperator() != "alice" {
		t.Fatalf("list %v, want float-1 at -5000000 by alice", &list)
	}
	code, stdout, stderr = runCLI(t, "account", "list", "--overdraft", "--config", config)
	if code != exitOK || !strings.Contains(stdout, "float-1") || !strings.Contains(stdout, "-5000000") || strings.Contains(stdout, "payee-1") ||
		!strings.Contains(stdout, "1 overdraft account (answered by ") {
		t.Fatalf("list: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("list:\n%s", stdout)

	// The audit log names the operator and the reason.
	ms := drillStatus(t, config)
	var outcomes []string
	for _, a := range ms.GetAudit() {
		if a.GetAction() == control.AuditActionOverdraftCreate && a.GetAccountId() == "float-1" {
			outcomes = append(outcomes, a.GetOperator()+": "+strings.SplitN(a.GetOutcome(), ":", 2)[0])
		}
	}
	want := "(no known token): refused, alice: requested, alice: created, alice: requested, alice: replayed, alice: requested, alice: failed"
	if strings.Join(outcomes, ", ") != want {
		t.Errorf("audit of float-1: %s\nwant %s", strings.Join(outcomes, ", "), want)
	}
}
