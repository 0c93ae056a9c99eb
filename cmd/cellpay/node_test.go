package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nodeProc is one `cellpay node` process.
type nodeProc struct {
	id, data string
	cmd      *exec.Cmd
	out      *bytes.Buffer
}

func startNodeProc(t *testing.T, bin, topoPath string, p *nodeProc) {
	t.Helper()
	p.out = new(bytes.Buffer)
	p.cmd = exec.Command(bin, "node", "--config", topoPath, "--node", p.id, "--data", p.data, "--env", "test", "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// TestNodeProcessesSurviveKill9 runs three `cellpay node` processes, kills
// the leader of the cell with SIGKILL in the middle of traffic, restarts it
// from its data directory, and checks that every acknowledged transfer is
// there and every replica agrees.
func TestNodeProcessesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes: runs in make test")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cellpay")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ids := []string{"n1", "n2", "n3"}
	sites := []string{"hz-a", "hz-b", "sh-a"}
	clientAddrs := map[string]string{}
	yaml := `environment: test
sites: [{id: hz-a, region: hangzhou}, {id: hz-b, region: hangzhou}, {id: sh-a, region: shanghai}]
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-a, sh-a], rtt: 30ms}
  - {sites: [hz-b, sh-a], rtt: 30ms}
nodes:
`
	for i, id := range ids {
		clientAddrs[id] = freeAddr(t)
		yaml += fmt.Sprintf("  - {id: %s, site: %s, raft_addr: %q, client_addr: %q}\n", id, sites[i], freeAddr(t), clientAddrs[id])
	}
	yaml += "cells:\n  - {id: 1, home: hz-a, replicas: [n1, n2, n3], slots: [\"0-4095\"]}\n"
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := topology.Load(topoPath); err != nil {
		t.Fatal(err)
	}
	certs := secureEnv(t, topoPath, "test-router") // the nodes inherit it
	asRouter, err := auth.Secure(certs, auth.Identity{Role: auth.RoleRouter, Name: "test-router"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]*nodeProc{}
	for _, id := range ids {
		procs[id] = &nodeProc{id: id, data: filepath.Join(dir, id)}
		startNodeProc(t, bin, topoPath, procs[id])
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				_ = p.cmd.Wait()
			}
		}
		if t.Failed() {
			for id, p := range procs {
				t.Logf("--- output of %s:\n%s", id, p.out.String())
			}
		}
	})
	clients := map[string]pb.CellClient{}
	for _, id := range ids {
		conn, err := grpc.NewClient("passthrough:///"+clientAddrs[id], asRouter.DialCredentials())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		clients[id] = pb.NewCellClient(conn)
	}
	// call tries each node, following leader hints, retrying UNAVAILABLE
	// with the same request, as a router would.
	call := func(fn func(context.Context, pb.CellClient) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		target := 0
		for {
			cctx, cc := context.WithTimeout(ctx, 3*time.Second)
			err := fn(cctx, clients[ids[target]])
			cc()
			if err == nil {
				return nil
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				return err
			}
			if ctx.Err() != nil {
				return err
			}
			if leader, _, ok := rpcstatus.LeaderHint(err); ok {
				for i, id := range ids {
					if id == leader {
						target = i
					}
				}
			} else {
				target = (target + 1) % len(ids)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	accts := []string{"alice", "bob", "carol"}
	for _, a := range accts {
		if err := call(func(ctx context.Context, c pb.CellClient) error {
			_, err := c.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "create-" + a, AccountId: a, Currency: "EUR", AllowNegativeBalance: true}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	acked := map[string]string{} // transfer id -> payer
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, k)
				err := call(func(ctx context.Context, c pb.CellClient) error {
					_, err := c.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: id, FromAccountId: accts[k%3], ToAccountId: accts[(k+1)%3], AmountMinor: 7, Currency: "EUR"}})
					return err
				})
				if err != nil {
					t.Errorf("transfer %s: %v", id, err)
					return
				}
				mu.Lock()
				acked[id] = accts[k%3]
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	// SIGKILL the leader mid-traffic.
	var leader string
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		st, err := clients[id].ReplicaStatus(ctx, &pb.ReplicaStatusRequest{CellId: 1, WithDigest: true})
		cancel()
		if err == nil && st.GetLeader() {
			leader = id
		}
	}
	if leader == "" {
		t.Fatal("no leader")
	}
	p := procs[leader]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	time.Sleep(1500 * time.Millisecond)
	startNodeProc(t, bin, topoPath, p)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 10 {
		t.Fatalf("only %d transfers acknowledged", n)
	}
	// Every replica converges to one digest, and holds every acknowledged transfer.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var digests []string
		var errs []error
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			st, err := clients[id].ReplicaStatus(ctx, &pb.ReplicaStatusRequest{CellId: 1, WithDigest: true})
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			digests = append(digests, fmt.Sprintf("%d/%x", st.GetAppliedIndex(), st.GetStateSha256()))
		}
		if len(errs) == 0 && digests[0] == digests[1] && digests[1] == digests[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas do not converge: %v %v", digests, errors.Join(errs...))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id := range acked {
		if err := call(func(ctx context.Context, c pb.CellClient) error {
			_, err := c.GetTransfer(ctx, &pb.GetTransferRequest{CellId: 1, TransferId: id, FromAccountId: acked[id]})
			return err
		}); err != nil {
			t.Fatalf("acknowledged transfer %s is lost: %v", id, err)
		}
	}
	t.Logf("%d transfers acknowledged across a SIGKILL of the leader %s; all present, replicas agree", n, leader)
}
