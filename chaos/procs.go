//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procExitWaitMax bounds the wait for a SIGKILLed process to be gone.
const procExitWaitMax = 5 * time.Second

// procs crashes and restarts the processes of a cluster by their pid files
// (DIR/node-ID.pid, DIR/router-SITE.pid). A crash is SIGKILL, the way a
// machine dies; before it, the process's command line, environment,
// working directory and log files are read from /proc, and a restart runs
// the same command again, in its own session, appending to the same logs,
// and writes its new pid into the pid file, so whoever stops the cluster by
// its pid files stops the new process too.
type procs struct {
	dir string

	mu      sync.Mutex
	crashed map[string]procImage // by pid file name, until restarted
}

// procImage is what it takes to start a crashed process again.
type procImage struct {
	argv           []string
	env            []string
	dir            string
	stdout, stderr string // files, or "" for /dev/null
}

func newProcs(dir string) (*procs, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("chaos: pid directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("chaos: pid directory %s is not a directory", dir)
	}
	return &procs{dir: dir, crashed: map[string]procImage{}}, nil
}

// crash SIGKILLs the process of pid file name (e.g. "node-hz-a-1"), which
// must run the cellpay subcommand kind with key among its arguments (so a
// stale pid file never kills an unrelated process), and waits until it is
// gone.
func (p *procs) crash(name, kind, key string) error {
	pidPath := filepath.Join(p.dir, name+".pid")
	raw, err := os.ReadFile(pidPath)
	if err != nil {
		return fmt.Errorf("chaos: crash %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("chaos: crash %s: %s holds %q, not a pid", name, pidPath, strings.TrimSpace(string(raw)))
	}
	img, err := readImage(pid)
	if err != nil {
		return fmt.Errorf("chaos: crash %s (pid %d from %s): the process is not running or not readable: %w", name, pid, pidPath, err)
	}
	if len(img.argv) < 2 || img.argv[1] != kind || !hasArg(img.argv, key) {
		return fmt.Errorf("chaos: crash %s: pid %d runs %q, not 'cellpay %s' for %s; refusing to kill it", name, pid, strings.Join(img.argv, " "), kind, key)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("chaos: crash %s (pid %d): %w", name, pid, err)
	}
	for deadline := time.Now().Add(procExitWaitMax); !procGone(pid); {
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: crash %s: pid %d still runs %s after SIGKILL", name, pid, procExitWaitMax)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	p.crashed[name] = img
	p.mu.Unlock()
	return nil
}

// restart starts the process crashed under name again.
func (p *procs) restart(name string) (err error) {
	p.mu.Lock()
	img, ok := p.crashed[name]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("chaos: restart %s: this run did not crash it", name)
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close() // The child holds its own copies.
		}
	}()
	open := func(path string) (*os.File, error) {
		if path == "" {
			return nil, nil // exec.Cmd connects nil to /dev/null
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	stdout, err := open(img.stdout)
	if err != nil {
		return fmt.Errorf("chaos: restart %s: %w", name, err)
	}
	stderr := stdout
	if img.stderr != img.stdout {
		if stderr, err = open(img.stderr); err != nil {
			return fmt.Errorf("chaos: restart %s: %w", name, err)
		}
	}
	cmd := exec.Command(img.argv[0], img.argv[1:]...)
	cmd.Env, cmd.Dir = img.env, img.dir
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	// Its own session: it belongs to the cluster, not to this run, and
	// outlives it; a ^C at this terminal does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chaos: restart %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release() // Not ours to wait for; whoever stops the cluster signals it by its pid file.
	if err := writeFileAtomic(filepath.Join(p.dir, name+".pid"), []byte(strconv.Itoa(pid)+"\n")); err != nil {
		return fmt.Errorf("chaos: restart %s: pid %d runs but its pid file could not be written: %w", name, pid, err)
	}
	p.mu.Lock()
	delete(p.crashed, name)
	p.mu.Unlock()
	return nil
}

// readImage reads a running process's command line, environment, working
// directory and the files of its stdout and stderr from /proc.
func readImage(pid int) (procImage, error) {
	base := "/proc/" + strconv.Itoa(pid)
	if procGone(pid) {
		return procImage{}, errors.New("no such process")
	}
	cmdline, err := os.ReadFile(base + "/cmdline")
	if err != nil {
		return procImage{}, err
	}
	environ, err := os.ReadFile(base + "/environ")
	if err != nil {
		return procImage{}, err
	}
	dir, err := os.Readlink(base + "/cwd")
	if err != nil {
		return procImage{}, err
	}
	img := procImage{argv: splitNUL(cmdline), env: splitNUL(environ), dir: dir}
	if len(img.argv) == 0 {
		return procImage{}, errors.New("empty command line")
	}
	img.stdout, img.stderr = logFile(base+"/fd/1"), logFile(base+"/fd/2")
	return img, nil
}

// logFile is the regular file behind an fd link, or "" (a pipe, a socket,
// a terminal, a deleted file: the restarted process writes to /dev/null).
func logFile(link string) string {
	target, err := os.Readlink(link)
	if err != nil || !strings.HasPrefix(target, "/") || strings.HasSuffix(target, " (deleted)") {
		return ""
	}
	if st, err := os.Stat(target); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	return target
}

// procGone reports whether pid no longer runs (a zombie counts as gone).
func procGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func splitNUL(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// hasArg reports whether argv holds value as an argument or a flag's
// value ("--node=ID").
func hasArg(argv []string, value string) bool {
	return slices.ContainsFunc(argv[1:], func(a string) bool {
		_, v, ok := strings.Cut(a, "=")
		return a == value || (ok && v == value)
	})
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
