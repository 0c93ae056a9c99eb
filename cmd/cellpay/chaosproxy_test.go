package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/chaos/fabric"
	"github.com/cellpay/cellpay/chaos/proxy"
)

// runChaos runs `<parent> args...` on a throwaway parent command holding
// addChaosProxyCommands, with run's exit-code mapping.
func runChaos(ctx context.Context, stdout, stderr *syncBuffer, args ...string) int {
	parent := &cobra.Command{Use: "chaos", SilenceUsage: true, SilenceErrors: true, Args: cobra.ArbitraryArgs, RunE: requireSubcommand}
	parent.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err) })
	addChaosProxyCommands(parent)
	parent.SetArgs(args)
	parent.SetOut(stdout)
	parent.SetErr(stderr)
	err := parent.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	stderr.Write([]byte(err.Error() + "\n"))
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	return exitFailure
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func chaosCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = runChaos(context.Background(), &out, &errOut, args...)
	return code, out.String(), errOut.String()
}

// startChaosProxy runs a proxy in process with one route from hz-a to a
// listener of sh-a and one back, and returns it and its --control flag.
func startChaosProxy(t *testing.T) (*proxy.Proxy, string) {
	t.Helper()
	var routes []proxy.Route
	for _, pair := range [][2]string{{"hz-a", "sh-a"}, {"sh-a", "hz-a"}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		routes = append(routes, proxy.Route{FromSite: pair[0], ListenAddr: "127.0.0.1:0", TargetAddr: ln.Addr().String(), TargetSite: pair[1]})
	}
	p, err := proxy.Start(proxy.Config{Routes: routes, ControlAddr: "127.0.0.1:0", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, "--control=" + p.ControlAddr()
}

func TestChaosCommandsChangeTheProxysLinks(t *testing.T) {
	t.Parallel()
	p, control := startChaosProxy(t)
	fab := p.Fabric()
	run := func(want string, args ...string) {
		t.Helper()
		code, stdout, stderr := chaosCLI(t, append(args, control)...)
		if code != exitOK || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if !strings.Contains(stdout, want) {
			t.Fatalf("%v printed %q, want it to contain %q", args, stdout, want)
		}
	}

	run("cut hz-a <-> sh-a", "cut", "hz-a", "sh-a")
	if !fab.Link("hz-a", "sh-a").Cut || !fab.Link("sh-a", "hz-a").Cut {
		t.Fatal("cut did not cut both directions")
	}
	run("healed sh-a <-> hz-a", "heal", "sh-a", "hz-a")
	if fab.Link("hz-a", "sh-a").Cut || fab.Link("sh-a", "hz-a").Cut {
		t.Fatal("heal A B did not heal")
	}

	run("delay hz-a <-> sh-a: 30ms one way, jitter 5ms", "delay", "hz-a", "sh-a", "30ms", "--jitter", "5ms")
	run("loss hz-a <-> sh-a: 0.05", "loss", "hz-a", "sh-a", "0.05")
	run("bandwidth hz-a <-> sh-a: 51200 B/s", "bandwidth", "hz-a", "sh-a", "51200")
	want := fabric.Link{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.05, BandwidthBytesPerSecond: 51200}
	for _, pair := range [][2]string{{"hz-a", "sh-a"}, {"sh-a", "hz-a"}} {
		if got := fab.Link(pair[0], pair[1]); got != want {
			t.Fatalf("%s->%s = %+v, want %+v", pair[0], pair[1], got, want)
		}
	}

	run("isolated sh-a", "isolate", "sh-a")
	if !fab.Link("hz-a", "sh-a").Cut {
		t.Fatal("isolate did not cut")
	}
	run("healed every link", "heal")
	if got := fab.Link("sh-a", "hz-a"); got != want {
		t.Fatalf("heal must keep the other faults: %+v, want %+v", got, want)
	}
	run("reset the conns between hz-a and sh-a", "reset", "hz-a", "sh-a")
	run("delay hz-a <-> sh-a: 0s one way, jitter 0s", "delay", "hz-a", "sh-a", "0")
	if got := fab.Link("hz-a", "sh-a").Delay; got != 0 {
		t.Fatalf("delay 0 left %s", got)
	}
}

func TestChaosStatusFormats(t *testing.T) {
	t.Parallel()
	p, control := startChaosProxy(t)
	p.Fabric().SetLink("hz-a", "sh-a", fabric.Link{Delay: 15 * time.Millisecond, Cut: true, Loss: 0.5, BandwidthBytesPerSecond: 1000})

	code, table, stderr := chaosCLI(t, "status", control)
	if code != exitOK {
		t.Fatalf("status: exit %d, %s", code, stderr)
	}
	// Ports vary from run to run: compare the table with them blanked and
	// the padding of the routes' columns, which depends on them, normalized.
	table = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(table, "ADDR")
	table = regexp.MustCompile(`(?m)^(ROUTE|hz-a->|sh-a->).*$`).ReplaceAllStringFunc(table, func(line string) string {
		return strings.Join(strings.Fields(line), " ")
	})
	const wantTable = `FROM  TO    DELAY  JITTER  LOSS  BANDWIDTH  CUT
hz-a  sh-a  15ms   0s      0.5   1000 B/s   CUT
sh-a  hz-a  0s     0s      0     unlimited  -

ROUTE FROM SITE LISTEN TARGET TARGET SITE LIVE TOTAL
hz-a->ADDR hz-a ADDR ADDR sh-a 0 0
sh-a->ADDR sh-a ADDR ADDR hz-a 0 0
`
	if table != wantTable {
		t.Errorf("status table:\n%s\nwant:\n%s", table, wantTable)
	}

	code, out, stderr := chaosCLI(t, "status", "-o", "json", control)
	if code != exitOK {
		t.Fatalf("status -o json: exit %d, %s", code, stderr)
	}
	var st proxy.StatusResponse
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json is not a StatusResponse: %v\n%s", err, out)
	}
	if len(st.Links) != 2 || st.Links[0].Link != p.Fabric().Link("hz-a", "sh-a") || len(st.Routes) != 2 {
		t.Fatalf("status -o json = %+v", st)
	}
}

func TestChaosCommandsBadArgumentsExit2(t *testing.T) {
	t.Parallel()
	p, control := startChaosProxy(t)
	tests := [][]string{
		{"cut", "hz-a"},
		{"cut", "hz-a", "sh-a", "bj-a"},
		{"isolate"},
		{"heal", "hz-a"},
		{"delay", "hz-a", "sh-a"},
		{"delay", "hz-a", "sh-a", "soon"},
		{"delay", "hz-a", "sh-a", "-5ms"},
		{"delay", "hz-a", "sh-a", "5ms", "--jitter", "-1ms"},
		{"delay", "hz-a", "sh-a", "5ms", "--jitter", "lots"},
		{"loss", "hz-a", "sh-a", "1.5"},
		{"loss", "hz-a", "sh-a", "NaN"},
		{"loss", "hz-a", "sh-a", "five"},
		{"bandwidth", "hz-a", "sh-a", "-1"},
		{"bandwidth", "hz-a", "sh-a", "1.5"},
		{"status", "extra"},
		{"status", "-o", "yaml"},
		{"cut", "hz a", "sh-a"}, // The proxy rejects the site name: 400.
		{"cut", "hz-a", "sh-a", "--control", "nocolon"},
		{"cut", "hz-a", "sh-a", "--timeout", "0s"},
		{"bogus"},
		{},
	}
	for _, args := range tests {
		if len(args) > 0 {
			// Right after the subcommand, so a bad --control later wins.
			args = append([]string{args[0], control}, args[1:]...)
		}
		code, stdout, stderr := chaosCLI(t, args...)
		if code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and an error", args, code, stdout, stderr, exitUsage)
		}
	}
	if got := p.Fabric().Link("hz-a", "sh-a"); got != (fabric.Link{}) {
		t.Errorf("bad commands changed hz-a->sh-a to %+v", got)
	}
}

func TestChaosCommandsWithoutProxyExit1(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{{"cut", "a", "b"}, {"heal"}, {"status"}, {"delay", "a", "b", "1ms"}} {
		code, _, stderr := chaosCLI(t, append(args, "--control", dead, "--timeout", "2s")...)
		if code != exitFailure || !strings.Contains(stderr, "cannot be reached") || !strings.Contains(stderr, dead) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s", args, code, stderr, exitFailure, dead)
		}
	}
}

func TestChaosProxyCommandRunsUntilCanceled(t *testing.T) {
	t.Parallel()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	path := filepath.Join(t.TempDir(), "proxy.json")
	config := `{"control_addr":"127.0.0.1:0","seed":3,
	  "routes":[{"name":"r","from_site":"hz-a","listen_addr":"127.0.0.1:0","target_addr":"` + target.Addr().String() + `","target_site":"sh-a"}],
	  "links":[{"from":"hz-a","to":"sh-a","link":{"delay":"15ms"}}]}`
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- runChaos(ctx, &stdout, &stderr, "proxy", "--config", path) }()

	var control string
	addrLine := regexp.MustCompile(`control API on (\S+),`)
	for start := time.Now(); control == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrLine.FindStringSubmatch(stdout.String()); m != nil {
			control = m[1]
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the proxy did not start: stdout %q, stderr %q", stdout.String(), stderr.String())
		}
	}
	code, out, errOut := chaosCLI(t, "status", "-o", "json", "--control", control)
	if code != exitOK || !strings.Contains(out, `"delay": "15ms"`) || !strings.Contains(out, `"name": "r"`) {
		t.Fatalf("status of the running proxy: exit %d, %s %s", code, out, errOut)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("proxy exited %d after cancel: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not stop after its context was canceled")
	}
	if code, _, _ := chaosCLI(t, "status", "--control", control, "--timeout", "1s"); code != exitFailure {
		t.Fatalf("status after the proxy stopped: exit %d, want %d", code, exitFailure)
	}
}

func TestChaosProxyCommandConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"routes":[{"from_site":"a","listen_addr":"x"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := chaosCLI(t, "proxy", "--config", bad)
	if code != exitInvalidConfig || !strings.Contains(stderr, "routes[0].listen_addr") || !strings.Contains(stderr, "routes[0].target_site") {
		t.Errorf("invalid config: exit %d, stderr %q; want %d naming every bad field", code, stderr, exitInvalidConfig)
	}
	if code, _, _ := chaosCLI(t, "proxy"); code != exitUsage {
		t.Errorf("no --config: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := chaosCLI(t, "proxy", "--config", filepath.Join(dir, "missing.json")); code != exitFailure {
		t.Errorf("missing file: exit %d, want %d", code, exitFailure)
	}
}
