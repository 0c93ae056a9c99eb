package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/channel"
)

// providerOutput is a buffer safe to read while the command writes to it.
type providerOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *providerOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *providerOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProviderCmd runs `cellpay provider args...` until the test ends and
// returns its address and a function that stops it and returns its exit
// code.
func startProviderCmd(t *testing.T, args ...string) (addr string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr providerOutput
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"provider"}, args...), &stdout, &stderr) }()
	stopped := false
	stop = func() int {
		t.Helper()
		cancel()
		select {
		case code := <-done:
			stopped = true
			return code
		case <-time.After(10 * time.Second):
			t.Fatalf("the provider did not stop: stderr %q", stderr.String())
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	serving := regexp.MustCompile(`serving on (\S+)\n`)
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if m := serving.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stop
		}
		select {
		case code := <-done:
			t.Fatalf("the provider exited %d: stdout %q, stderr %q", code, stdout.String(), stderr.String())
		default:
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the provider did not start: stdout %q, stderr %q", stdout.String(), stderr.String())
		}
	}
}

func TestProviderCommandPaysAndStops(t *testing.T) {
	t.Parallel()
	addr, stop := startProviderCmd(t, "--listen", "127.0.0.1:0", "--name", "bank-a", "--log-level", "warn")
	p, err := channel.NewHTTPProvider(channel.DefaultHTTPProviderConfig("bank-a", "http://"+addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	payout := channel.Payout{ID: "interest-2026-01-16-42", Account: "investor-42", AmountMinor: 6_000_000, Currency: "CNY"}
	res, err := p.Submit(ctx, payout)
	if !channel.Definite(res, err) || res.Outcome != channel.OutcomeSucceeded {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	if res, err := p.Submit(ctx, payout); err != nil || res.Outcome != channel.OutcomeSucceeded {
		t.Fatalf("second Submit = %+v, %v", res, err)
	}
	entries, err := p.ReadStatement(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].PayoutID != payout.ID || entries[0].AmountMinor != payout.AmountMinor || entries[0].ProviderRef != res.ProviderRef {
		t.Fatalf("statement = %+v, want one payment of %+v", entries, payout)
	}

	// A call that hangs does not hold up the stop.
	resp, err := http.Post("http://"+addr+"/behaviour", "application/json", strings.NewReader(`{"submit":{"mode":"timeout_before"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hung := make(chan error, 1)
	go func() {
		_, err := p.Submit(context.Background(), channel.Payout{ID: "p-2", Account: "a", AmountMinor: 1, Currency: "CNY"})
		hung <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d after the stop, want %d", code, exitOK)
	}
	if err := <-hung; !errors.Is(err, channel.ErrOutcomeUnknown) {
		t.Fatalf("the hung Submit ended with %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("the provider still listens after the stop")
	}
}

func TestProviderCommandToken(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startProviderCmd(t, "--listen", "127.0.0.1:0", "--name", "bank-b", "--token-file", tokenFile, "--log-level", "warn")
	resp, err := http.Get("http://" + addr + "/statement")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /statement without the token: %d", resp.StatusCode)
	}
	cfg := channel.DefaultHTTPProviderConfig("bank-b", "http://"+addr)
	cfg.Token = "s3cret"
	p, err := channel.NewHTTPProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReadStatement(context.Background()); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

// The simulator keeps ids for --idempotency-window (24h by default, 0 for
// ever) and says so at /healthz.
func TestProviderCommandIdempotencyWindow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "24h0m0s"},
		{[]string{"--idempotency-window", "90m"}, "1h30m0s"},
		{[]string{"--idempotency-window", "720h"}, "720h0m0s"},
		{[]string{"--idempotency-window", "0"}, "forever"},
	} {
		addr, _ := startProviderCmd(t, append([]string{"--listen", "127.0.0.1:0", "--name", "bank-a", "--log-level", "warn"}, tt.args...)...)
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var health struct {
			Status, Provider  string
			IdempotencyWindow string `json:"idempotency_window"`
		}
		err = json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
		if err != nil || health.Status != "ok" || health.IdempotencyWindow != tt.want {
			t.Errorf("%v: /healthz %+v, %v; want idempotency_window %q", tt.args, health, err, tt.want)
		}
	}
}

func TestProviderCommandBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"provider"}, exitUsage, []string{"--name is required"}},
		{[]string{"provider", "--name", "bank a"}, exitUsage, []string{`--name "bank a"`}},
		{[]string{"provider", "--name", "bank-a", "--listen", "7500"}, exitUsage, []string{`--listen "7500" is not host:port`}},
		{[]string{"provider", "--name", "bank-a", "--listen", ":7500"}, exitUsage, []string{"not a loopback address", "--token-file"}},
		{[]string{"provider", "--name", "bank-a", "--listen", "0.0.0.0:7500"}, exitUsage, []string{"not a loopback address"}},
		{[]string{"provider", "--name", "bank-a", "--log-level", "loud"}, exitUsage, []string{"--log-level"}},
		{[]string{"provider", "--name", "bank-a", "--hang-max", "0s", "--drain", "-1s"}, exitUsage, []string{"--hang-max 0s", "--drain -1s"}},
		{[]string{"provider", "--name", "bank-a", "extra"}, exitUsage, []string{"takes no arguments"}},
		{[]string{"provider", "--name", "bank-a", "--idempotency-window", "-1s"}, exitUsage, []string{"--idempotency-window -1s is not between 0 (for ever) and 8760h0m0s"}},
		{[]string{"provider", "--name", "bank-a", "--idempotency-window", "8761h"}, exitUsage, []string{"--idempotency-window 8761h0m0s"}},
		{[]string{"provider", "--name", "bank-a", "--idempotency-window", "a day"}, exitUsage, []string{"--idempotency-window"}},
		{[]string{"provider", "--listen", "nope", "--log-level", "loud"}, exitUsage, []string{"--name is required", "--listen", "--log-level"}},
		{[]string{"provider", "--name", "bank-a", "--token-file", filepath.Join(dir, "missing")}, exitFailure, []string{"--token-file"}},
		{[]string{"provider", "--name", "bank-a", "--token-file", empty}, exitInvalidConfig, []string{"want one token"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, tt.args...)
		if code != tt.code || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d", tt.args, code, stdout, stderr, tt.code)
		}
		for _, want := range tt.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr %q does not say %q", tt.args, stderr, want)
			}
		}
	}

	// A busy address is a failure, not a usage error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if code, _, stderr := runCLI(t, "provider", "--name", "bank-a", "--listen", ln.Addr().String()); code != exitFailure {
		t.Errorf("busy address: exit %d, stderr %q; want %d", code, stderr, exitFailure)
	}
}
