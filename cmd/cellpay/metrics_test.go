package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/topology"
)

// lockedBuffer is a bytes.Buffer safe for a process writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// metricsTopology writes a topology of three nodes (one per site) and one
// cell, on free loopback addresses, none of them running.
func metricsTopology(t *testing.T) string {
	t.Helper()
	yaml := `environment: test
sites: [{id: hz-a, region: hangzhou}, {id: hz-b, region: hangzhou}, {id: sh-a, region: shanghai}]
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-a, sh-a], rtt: 30ms}
  - {sites: [hz-b, sh-a], rtt: 30ms}
nodes:
`
	for _, s := range []string{"hz-a", "hz-b", "sh-a"} {
		yaml += fmt.Sprintf("  - {id: %s-1, site: %s, raft_addr: %q, client_addr: %q}\n", s, s, freeAddr(t), freeAddr(t))
	}
	yaml += "cells:\n  - {id: 1, home: hz-a, replicas: [hz-a-1, hz-b-1, sh-a-1], slots: [\"0-4095\"]}\n"
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a cellpay command line running in this process.
type proc struct {
	args   []string
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when it exits
	code   int           // its exit code, once done
}

// startInProcess runs the cellpay command line in a goroutine; stop (or
// the test's end) cancels it, as SIGTERM would.
func startInProcess(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{args: args, out: &lockedBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() { p.code = run(ctx, args, p.out, p.out); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop cancels the process and checks that it exits 0 within 30 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
		if p.code != exitOK {
			t.Errorf("cellpay %s exited %d:\n%s", p.args[0], p.code, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("cellpay %s did not stop within 30 s of cancel:\n%s", p.args[0], p.out.String())
	}
}

// get fetches url, retrying for a while as the process starts.
func get(t *testing.T, url string, p *proc) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		select {
		case <-p.done:
			t.Fatalf("the process exited %d before serving %s:\n%s", p.code, url, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v\n%s", url, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// `cellpay router --metrics-addr` serves its request counts at /metrics
// on a listener of its own; --pprof adds /debug/pprof/ there only.
func TestRouterServesMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	topo := metricsTopology(t)
	for _, withPprof := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", withPprof), func(t *testing.T) {
			metricsAddr, httpAddr := freeAddr(t), freeAddr(t)
			args := []string{"router", "--config", topo, "--site", "hz-a", "--id", "router-hz-a", "--listen", freeAddr(t), "--http", httpAddr,
				"--gossip-addr", freeAddr(t), "--env", "test", "--request-timeout", "1s", "--log-level", "warn", "--metrics-addr", metricsAddr,
				"--insecure"} // the metrics, not the trust boundaries, are under test: plain HTTP to the API
			if withPprof {
				args = append(args, "--pprof")
			}
			p := startInProcess(t, args...)
			if code, body := get(t, "http://"+metricsAddr+"/metrics", p); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Fatalf("/metrics: %d\n%s", code, body)
			}
			// No node runs: the request gets no answer before its deadline.
			req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/accounts", strings.NewReader(`{"account_id":"alice","currency":"CNY"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "open-alice")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("create account with no node up: HTTP %d, want 503", resp.StatusCode)
			}
			_, body := get(t, "http://"+metricsAddr+"/metrics", p)
			for _, want := range []string{
				`cellpay_router_requests_total{cell="1",method="CreateAccount",outcome="unavailable"} 1`,
				`cellpay_router_request_duration_seconds_count{cell="1",method="CreateAccount"} 1`,
				`cellpay_router_forward_attempts_total{cell="1"}`,
				`process_start_time_seconds`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			pprofWant := http.StatusNotFound
			if withPprof {
				pprofWant = http.StatusOK
			}
			if code, body := get(t, "http://"+metricsAddr+"/debug/pprof/", p); code != pprofWant {
				t.Errorf("metrics listener /debug/pprof/: %d, want %d\n%.300s", code, pprofWant, body)
			} else if withPprof && !strings.Contains(body, "goroutine") {
				t.Errorf("/debug/pprof/ does not list the profiles:\n%.300s", body)
			}
			if code, _ := get(t, "http://"+metricsAddr+"/debug/pprof/heap?debug=1", p); code != pprofWant {
				t.Errorf("metrics listener /debug/pprof/heap: %d, want %d", code, pprofWant)
			}
			if code, _ := get(t, "http://"+httpAddr+"/debug/pprof/", p); code == http.StatusOK {
				t.Errorf("the public HTTP API serves /debug/pprof/")
			}
		})
	}
}

// `cellpay node --metrics-addr` serves the node's metrics (its replicas'
// leadership, before any leader is elected) and stops serving at shutdown.
func TestNodeServesMetrics(t *testing.T) {
	topo := metricsTopology(t)
	metricsAddr := freeAddr(t)
	p := startInProcess(t, "node", "--config", topo, "--node", "hz-a-1", "--data", t.TempDir(), "--env", "test",
		"--log-level", "warn", "--metrics-addr", metricsAddr, "--insecure")
	// The listener serves before the node has started (and registered).
	want := []string{`cellpay_node_leader{cell="1"} 0`, "go_goroutines"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, "http://"+metricsAddr+"/metrics", p)
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if code == http.StatusOK && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %d, lacks %q:\n%s", code, missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get(t, "http://"+metricsAddr+"/debug/pprof/", p); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", code)
	}
	p.stop(t)
	if conn, err := net.DialTimeout("tcp", metricsAddr, time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("the metrics listener still accepts after the node stopped")
	}
}

func TestMetricsFlagErrors(t *testing.T) {
	path := metricsTopology(t)
	topo, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := topo.Node("hz-a-1")
	node := []string{"node", "--config", path, "--node", "hz-a-1", "--data", t.TempDir(), "--env", "test"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"router", "--pprof"}, "--pprof needs --metrics-addr"},
		{append(node, "--pprof"), "--pprof needs --metrics-addr"},
		{[]string{"router", "--metrics-addr", "localhost"}, `--metrics-addr "localhost": want host:port`},
		{[]string{"router", "--metrics-addr", "127.0.0.1:http"}, `--metrics-addr "127.0.0.1:http": want host:port`},
		{append(node, "--metrics-addr", ":9101"), `--metrics-addr ":9101": name the host`},
		{[]string{"router", "--listen", "127.0.0.1:7301", "--metrics-addr", "127.0.0.1:7301"}, "--metrics-addr 127.0.0.1:7301 is also --listen"},
		{append(node, "--gossip-addr", "127.0.0.1:7946", "--metrics-addr", "127.0.0.1:7946", "--pprof"), "is also --gossip-addr"},
		{append(node, "--metrics-addr", self.ClientAddr), "is also the node's client_addr in the topology"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "--help' for usage") {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, exitUsage, tt.want)
			}
		})
	}
}

// With certificates the metrics listener is HTTPS: /metrics needs a
// certificate of the cluster (any role), pprof (which shows the command
// line) an operator's.
func TestSecureMetricsListener(t *testing.T) {
	topo := metricsTopology(t)
	certs := secureEnv(t, topo)
	metricsAddr := freeAddr(t)
	p := startInProcess(t, "node", "--config", topo, "--node", "hz-a-1", "--data", t.TempDir(), "--env", "test",
		"--log-level", "warn", "--metrics-addr", metricsAddr, "--pprof")
	as := func(role auth.Role, name string) *http.Client {
		sec, err := auth.Secure(certs, auth.Identity{Role: role, Name: name}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: sec.ClientTLS()}}
	}
	operator, client := as(auth.RoleOperator, testOperatorName), as(auth.RoleClient, testClientName)
	// Without a certificate (the CA trusted, none shown): 401.
	op, err := auth.Secure(certs, auth.Identity{Role: auth.RoleOperator, Name: testOperatorName}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	noCert := op.ClientTLS().Clone()
	noCert.GetClientCertificate = nil
	anonymous := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}
	code := func(c *http.Client, path string) int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := c.Get("https://" + metricsAddr + path)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				return resp.StatusCode
			}
			select {
			case <-p.done:
				t.Fatalf("the node exited %d:\n%s", p.code, p.out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", path, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		who  string
		c    *http.Client
		path string
		want int
	}{
		{"an operator", operator, "/metrics", http.StatusOK},
		{"a client", client, "/metrics", http.StatusOK},
		{"no certificate", anonymous, "/metrics", http.StatusUnauthorized},
		{"an operator", operator, "/debug/pprof/cmdline", http.StatusOK},
		{"a client", client, "/debug/pprof/cmdline", http.StatusForbidden},
	} {
		if got := code(tc.c, tc.path); got != tc.want {
			t.Errorf("%s GET %s: %d, want %d", tc.who, tc.path, got, tc.want)
		}
	}
}
