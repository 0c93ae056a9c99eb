//go:build linux

package chaos

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

// helperEnv makes the test binary a stand-in cluster process: it prints a
// line and sleeps (bounded), so procs can crash and restart it.
const helperEnv = "CHAOS_TEST_FAKE_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Stdout.WriteString("fake process " + strings.Join(os.Args[1:], " ") + " up\n")
		time.Sleep(2 * time.Minute) // bounded: a leaked helper ends on its own
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startFake starts the test binary as "cellpay ARGS" with its output in
// log, writes its pid file and kills whatever runs under it at the end.
func startFake(t *testing.T, pidDir, name, log string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reap it whenever it dies
	pidFile := filepath.Join(pidDir, name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if pid := readPid(t, pidFile); pid > 0 && !procGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // the restarted one
		}
	})
	return cmd
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// waitMax bounds every wait on the fake processes.
const waitMax = 5 * time.Second

// A crash is SIGKILL; a restart runs the same command line again, appends
// to the same log and rewrites the pid file with the new pid.
func TestProcsCrashAndRestart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "node.log")
	first := startFake(t, dir, "node-hz-a-1", log, "node", "--node", "hz-a-1", "--data", dir)
	replicationtest.Eventually(t, waitMax, func() bool { b, _ := os.ReadFile(log); return strings.Count(string(b), "up\n") == 1 }, "the fake node's first line")
	p, err := newProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.restart("node-hz-a-1"); err == nil {
		t.Fatal("restarted a process this run never crashed")
	}
	if err := p.crash("node-hz-a-1", "node", "hz-a-1"); err != nil {
		t.Fatal(err)
	}
	if !procGone(first.Process.Pid) {
		t.Fatal("the crashed process still runs")
	}
	if err := p.restart("node-hz-a-1"); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, filepath.Join(dir, "node-hz-a-1.pid"))
	if pid == first.Process.Pid || procGone(pid) {
		t.Fatalf("pid file holds %d (first %d), gone %v: want the new, running process", pid, first.Process.Pid, procGone(pid))
	}
	img, err := readImage(pid)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(img.argv[1:], " ") != "node --node hz-a-1 --data "+dir || img.stdout != log {
		t.Fatalf("restarted as %q writing to %q", img.argv, img.stdout)
	}
	replicationtest.Eventually(t, waitMax, func() bool { b, _ := os.ReadFile(log); return strings.Count(string(b), "up\n") == 2 }, "the restarted node's line in the same log")
	// A second crash finds the new pid.
	if err := p.crash("node-hz-a-1", "node", "hz-a-1"); err != nil {
		t.Fatal(err)
	}
	replicationtest.Eventually(t, waitMax, func() bool { return procGone(pid) }, "the restarted process to be gone")
}

// A pid file whose process is not the cellpay process it names (a reused
// pid, a stale file) is never signalled.
func TestProcsRefuseAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	other := startFake(t, dir, "node-hz-a-1", filepath.Join(dir, "log"), "router", "--site", "hz-a")
	p, err := newProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = p.crash("node-hz-a-1", "node", "hz-a-1")
	if err == nil || !strings.Contains(err.Error(), "refusing to kill it") {
		t.Fatalf("crash = %v, want a refusal", err)
	}
	if procGone(other.Process.Pid) {
		t.Fatal("the other process was killed")
	}
	if err := os.WriteFile(filepath.Join(dir, "router-sh-a.pid"), []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.crash("router-sh-a", "router", "sh-a"); err == nil || !strings.Contains(err.Error(), "not a pid") {
		t.Fatalf("crash of a garbled pid file = %v", err)
	}
	if err := p.crash("router-hz-b", "router", "hz-b"); err == nil {
		t.Fatal("crashed a process without a pid file")
	}
	if _, err := newProcs(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing pid directory was accepted")
	}
}
