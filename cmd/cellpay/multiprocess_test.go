package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/chaos/proxy"
	"github.com/cellpay/cellpay/chaos/report"
)

// freePortRun returns the first of n consecutive ports that are all free on
// 127.0.0.1 a moment ago, below the kernel's ephemeral range (so dials do
// not take them meanwhile).
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(12000-n)
		var lns []net.Listener
		for i := 0; i < n; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return base
		}
	}
	t.Fatalf("no run of %d free ports found", n)
	return 0
}

// procCluster is a cluster of separate cellpay processes behind the chaos
// proxy, laid out like deploy/local's run directory: topology.yaml,
// proxy.json, logs/NAME.log, pids/NAME.pid.
type procCluster struct {
	bin, dir, topoPath, proxyPath, control string
	routers                                map[string]string // site -> gRPC address
}

// startProcCluster builds cellpay and starts 3 sites x 1 node, one router
// per site and the chaos proxy between them, each a process; every process
// is stopped (by its pid file, so a restarted one too) at the end of the test.
func startProcCluster(t *testing.T) *procCluster {
	t.Helper()
	dir := t.TempDir()
	c := &procCluster{bin: filepath.Join(dir, "cellpay"), dir: dir, topoPath: filepath.Join(dir, "topology.yaml"),
		proxyPath: filepath.Join(dir, "proxy.json"), control: freeAddr(t), routers: map[string]string{}}
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sub := range []string{"logs", "pids"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sites := []string{"hz-a", "hz-b", "sh-a"}
	yaml := `environment: test
sites: [{id: hz-a, region: hangzhou}, {id: hz-b, region: hangzhou}, {id: sh-a, region: shanghai}]
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-a, sh-a], rtt: 30ms}
  - {sites: [hz-b, sh-a], rtt: 30ms}
nodes:
`
	for _, s := range sites {
		yaml += fmt.Sprintf("  - {id: %s-1, site: %s, raft_addr: %q, client_addr: %q}\n", s, s, freeAddr(t), freeAddr(t))
	}
	yaml += `cells:
  - {id: 1, home: hz-a, replicas: [hz-a-1, hz-b-1, sh-a-1], slots: ["0-1365"]}
  - {id: 2, home: hz-b, replicas: [hz-a-1, hz-b-1, sh-a-1], slots: ["1366-2730"]}
  - {id: 3, home: sh-a, replicas: [hz-a-1, hz-b-1, sh-a-1], slots: ["2731-4095"]}
`
	if err := os.WriteFile(c.topoPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	secureEnv(t, c.topoPath, "router-hz-a", "router-hz-b", "router-sh-a") // every process inherits it
	args := []string{"chaos", "proxy-config", "--config", c.topoPath, "--env", "test", "--control", c.control, "--out", c.proxyPath,
		"--base-port", strconv.Itoa(freePortRun(t, 24))} // 3 x (2 nodes x 2 + 2 routers) + 2 regions x 3 routers
	for _, s := range sites {
		c.routers[s] = freeAddr(t)
		args = append(args, "--router", s+"="+c.routers[s])
	}
	c.run(t, args...)

	t.Cleanup(func() { c.stop(t) })
	c.start(t, "proxy", "chaos", "proxy", "--config", c.proxyPath)
	c.waitFor(t, "the proxy's control API", func() bool {
		return exec.Command(c.bin, "chaos", "status", "--control", c.control, "--timeout", "1s").Run() == nil
	})
	seed := freeAddr(t)
	for i, s := range sites {
		gossip := []string{"--gossip-addr", seed}
		if i > 0 {
			gossip = []string{"--gossip-addr", freeAddr(t), "--join", seed}
		}
		c.start(t, "node-"+s+"-1", append([]string{"node", "--config", c.topoPath, "--env", "test", "--node", s + "-1",
			"--data", filepath.Join(dir, "data", s+"-1"), "--via-proxy", c.proxyPath, "--log-level", "warn"}, gossip...)...)
	}
	for _, s := range sites {
		c.start(t, "router-"+s, "router", "--config", c.topoPath, "--env", "test", "--site", s, "--id", "router-"+s,
			"--listen", c.routers[s], "--gossip-addr", freeAddr(t), "--join", seed, "--via-proxy", c.proxyPath, "--log-level", "warn")
	}
	c.waitFor(t, "a leader for every cell, seen by a router", func() bool {
		out, err := exec.Command(c.bin, "status", "--router", c.routers["hz-b"], "--timeout", "1s", "-o", "json").Output()
		var st pb.ClusterStatus
		if err != nil || protojson.Unmarshal(out, &st) != nil {
			return false
		}
		led := 0
		for _, cell := range st.GetCells() {
			if cell.GetLeaderNodeId() != "" {
				led++
			}
		}
		return led == 3
	})
	return c
}

// run runs the built binary to completion and fails on a non-zero exit.
func (c *procCluster) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(c.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("cellpay %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs cellpay ARGS in the background, logging to logs/NAME.log, its
// pid in pids/NAME.pid.
func (c *procCluster) start(t *testing.T, name string, args ...string) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(c.dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reaps it whenever it ends
	if err := os.WriteFile(filepath.Join(c.dir, "pids", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
}

// stop SIGTERMs every process of pids/, waits, then SIGKILLs what is left;
// on failure it shows the logs' tails.
func (c *procCluster) stop(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(c.dir, "pids", "*.pid"))
	var pids []int
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 1 {
			pids = append(pids, pid)
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if running(pid) {
			t.Errorf("pid %d ignored SIGTERM for 15s: SIGKILL", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(c.dir, "logs", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("--- tail of %s:\n%s", filepath.Base(l), strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	}
}

// running reports whether pid runs (a zombie does not).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: ask the kernel
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func (c *procCluster) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60s waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// chaosRun runs `cellpay chaos run --target` on the cluster and returns its
// report.
func (c *procCluster) chaosRun(t *testing.T, scenario string, extra ...string) report.Run {
	t.Helper()
	out := filepath.Join(c.dir, "report-"+scenario)
	args := append([]string{"chaos", "run", "--scenario", scenario, "--target", c.proxyPath, "--config", c.topoPath, "--env", "test",
		"--pids", filepath.Join(c.dir, "pids"), "--workers", "4", "--out", out}, extra...)
	cmd := exec.Command(c.bin, args...)
	stdout, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cellpay chaos run: %v\n%s", err, stdout)
	}
	t.Logf("cellpay %s:\n%s", strings.Join(args, " "), stdout)
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatal(err)
	}
	return run
}

// proxyStatus is the proxy's GET /status.
func (c *procCluster) proxyStatus(t *testing.T) proxy.StatusResponse {
	t.Helper()
	var st proxy.StatusResponse
	if err := json.Unmarshal([]byte(c.run(t, "chaos", "status", "--control", c.control, "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestChaosRunAgainstProcesses starts a cluster of separate processes (3
// nodes, 3 routers, the chaos proxy between sites), cuts the fiber to hz-a
// with `cellpay chaos run --target` and checks that every checker passes,
// that cell 1 failed over out of hz-a, and that the traffic the cut stopped
// really crossed the proxy (its routes to and from hz-a, and the clients'
// routes, carried conns), and that `cellpay reconcile` reports all clear
// afterwards. Then it crashes and restarts a node by its pid file, and the
// checks pass again.
func TestChaosRunAgainstProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes: runs in make test")
	}
	c := startProcCluster(t)

	run := c.chaosRun(t, "fiber-cut", "--duration", "8s", "--fault-start", "15%", "--fault-end", "5s")
	if !run.Pass() {
		t.Fatalf("fiber-cut checks failed: %+v", run.Results)
	}
	if run.Ops.OK < 50 {
		t.Fatalf("only %d operations succeeded", run.Ops.OK)
	}
	failedOver := false
	for _, f := range run.Failovers {
		failedOver = failedOver || (f.Cell == 1 && f.FromSite == "hz-a" && f.ToSite != "hz-a")
	}
	if !failedOver {
		t.Fatalf("cell 1 never failed over out of hz-a: %+v", run.Failovers)
	}
	st := c.proxyStatus(t)
	for _, r := range st.Routes {
		crossesHzA := r.TargetSite == "hz-a" || r.FromSite == "hz-a"
		raftOrClients := strings.HasSuffix(r.Name, ".raft") || strings.HasPrefix(r.FromSite, "clients-")
		if crossesHzA && raftOrClients && r.TotalConns == 0 {
			t.Errorf("route %s carried no conn: its traffic went around the proxy", r.Name)
		}
	}
	for _, l := range st.Links {
		if l.Link.Cut {
			t.Errorf("link %s -> %s is still cut after the run", l.From, l.To)
		}
	}
	// Reconciliation of the processes after the failover and failback: every
	// replica agrees at a checkpoint, the ledger is conserved, all clear.
	out := c.run(t, "reconcile", "--config", c.topoPath, "--since", "10m")
	if !strings.Contains(out, "all clear") {
		t.Fatalf("cellpay reconcile after the fiber cut:\n%s", out)
	}

	pidFile := filepath.Join(c.dir, "pids", "node-hz-a-1.pid")
	before, _ := os.ReadFile(pidFile)
	run = c.chaosRun(t, "node-crash", "--duration", "6s")
	if !run.Pass() {
		t.Fatalf("node-crash checks failed: %+v", run.Results)
	}
	after, _ := os.ReadFile(pidFile)
	if string(after) == string(before) {
		t.Fatalf("node-crash did not restart hz-a-1 (pid file still %q)", before)
	}
}
