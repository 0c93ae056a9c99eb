package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
)

// Every bad flag is named at once, with exit code 2, before anything starts.
func TestDemoFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"demo", "--scenario", "volcano", "--duration", "1s", "--cells", "0", "--nodes-per-site", "6", "--hold-down", "-1s", "--workers", "0"},
			[]string{`--scenario "volcano" is not a scenario; known: fiber-cut`, "--duration 1s: want 3s to 10m0s", "--cells 0: want 1 to 48",
				"--nodes-per-site 6: want 1 to 5", "--hold-down -1s: want 0s to 1m0s", "--workers 0: want 1 to 64"}},
		{[]string{"demo", "--interactive", "--scenario", "split", "--duration", "5s", "--workers", "-1"},
			[]string{"--scenario is for the story", "--duration is for the story", "--workers -1: want 0 (no traffic) to 64"}},
		{[]string{"demo", "extra"}, []string{`takes no arguments, got ["extra"]`}},
		{[]string{"demo", "--cells", "many"}, []string{`invalid argument "many" for "--cells" flag`}},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != exitUsage || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want exit %d and nothing on stdout", tc.args, code, stdout, exitUsage)
		}
		for _, want := range tc.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr does not name %q:\n%s", tc.args, want, stderr)
			}
		}
	}
}

// A short story on a small cluster passes every check and the
// reconciliation, prints the summary and writes the reports.
func TestDemoStory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "demo", "--duration", "8s", "--cells", "3", "--nodes-per-site", "1",
		"--workers", "4", "--hold-down", "2s", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"story    fiber-cut (seed 1): 8s of traffic",
		" steady ", " fiber cut ", " repaired ", " reconcile ",
		"PASS  every check passed and the reconciliation is all clear",
		"payments  ", " transfers (", " deposits · 3 payouts",
		"errors    0 client-visible errors",
		"RTO       p50 ", "for hz-a's cell\n",
		"failback  every cell home ",
		"money     conserved: yes",
		"✓ conservation", "✓ availability", "✓ reconciliation",
		"reconcile all clear: 3 cells, replicas agree, 3 payouts match the banks",
		filepath.Join(out, "report.html"), filepath.Join(out, "report.json"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if regexp.MustCompile(`payments  0 transfers`).MatchString(stdout) {
		t.Errorf("no transfer was made")
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil || !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("reconciliation")) {
		t.Errorf("report.html (%v) lacks the timeline chart or the reconciliation", err)
	}
	for _, name := range []string{"report.json", "report.txt", "reconcile.txt", "reconcile.json", "demo.log"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory is still there without --keep (%v)", err)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", stdout)
	}
}

// --interactive keeps the cluster up: the printed router answers cellpay
// status, the topology file and token it printed plan a drill, and a
// cancelled context (Ctrl-C) stops everything.
func TestDemoInteractive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := t.TempDir()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--interactive", "--cells", "3", "--nodes-per-site", "1", "--workers", "1", "--out", out}, &stdout, &stderr)
	}()
	statusLine := regexp.MustCompile(`cellpay status --router (\S+)`)
	drillLine := regexp.MustCompile(`export CELLPAY_TOKEN=(\S+)\n  cellpay drill evacuate --site hz-a --config (\S+) --dry-run`)
	deadline := time.Now().Add(60 * time.Second)
	for !drillLine.MatchString(stdout.String()) {
		select {
		case code := <-done:
			t.Fatalf("demo --interactive ended early with exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no router address printed within 60s:\n%s", stdout.String())
		}
	}
	text := stdout.String()
	if m := regexp.MustCompile(`export CELLPAY_CERTS_DIR=(\S+)`).FindStringSubmatch(text); m != nil {
		t.Setenv(certsDirEnv, m[1])
	} else {
		t.Fatalf("the demo printed no certs dir:\n%s", text)
	}
	addr := statusLine.FindStringSubmatch(text)[1]
	code, status, errOut := runCLI(t, "status", "--router", addr)
	if code != exitOK || !strings.Contains(status, "CELL") || !strings.Contains(status, "router-hz-a") {
		t.Fatalf("cellpay status --router %s: exit %d\n%s\n%s", addr, code, status, errOut)
	}
	page := regexp.MustCompile(`status    (http://\S+)`).FindStringSubmatch(text)
	if page == nil {
		t.Fatalf("no status page printed:\n%s", text)
	}
	resp, err := http.Get(page[1])
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the status page %s: %v %v", page[1], resp, err)
	}
	_ = resp.Body.Close()
	m := drillLine.FindStringSubmatch(text)
	if _, err := topology.Load(m[2]); err != nil {
		t.Fatalf("the printed topology file does not load: %v", err)
	}
	t.Setenv(tokenEnv, m[1])
	code, plan, errOut := runCLI(t, "drill", "evacuate", "--site", "hz-a", "--config", m[2], "--dry-run")
	if code != exitOK || !strings.Contains(plan, "plan: evacuate site hz-a") {
		t.Fatalf("the printed drill: exit %d\n%s\n%s", code, plan, errOut)
	}
	// The token is the operator's: the drill runs.
	if code, out, errOut := runCLI(t, "drill", "evacuate", "--site", "hz-a", "--config", m[2], "--yes", "--timeout", "30s"); code != exitOK {
		t.Fatalf("the drill with the printed token: exit %d\n%s\n%s", code, out, errOut)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after cancel\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo --interactive did not stop within 30s of the cancel")
	}
	if !strings.Contains(stdout.String(), "stopping the cluster") {
		t.Errorf("no word of stopping:\n%s", stdout.String())
	}
	// The demo removed its throwaway certificates: ask in plain TCP.
	if code, _, _ := runCLI(t, "status", "--router", addr, "--timeout", "1s", "--insecure"); code != exitUnhealthy {
		t.Errorf("the router still answers after the demo stopped (status exit %d)", code)
	}
}
