package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellpay/cellpay/chaos/proxy"
)

var minimalRouters = []string{"--router", "hz-a=127.0.0.1:7301", "--router", "hz-b=127.0.0.1:7302", "--router", "sh-a=127.0.0.1:7303"}

func TestChaosProxyConfigCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "proxy.json")
	args := append([]string{"chaos", "proxy-config", "--config", minimalFile, "--env", "test", "--base-port", "17000", "--out", out}, minimalRouters...)
	if code, stdout, stderr := runCLI(t, args...); code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	cfg, err := proxy.LoadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 24 || len(cfg.Links) != 6 {
		t.Fatalf("%d routes and %d links, want 24 and 6", len(cfg.Routes), len(cfg.Links))
	}
	raw, _ := os.ReadFile(out)
	if !strings.Contains(string(raw), `"hz-a>hz-b-1.raft"`) {
		t.Fatalf("route names are escaped or missing:\n%s", raw)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"chaos", "proxy-config"}, exitUsage, "--config is required\n--base-port is required"},
		{[]string{"chaos", "proxy-config", "--config", minimalFile, "--base-port", "1", "--router", "hz-a"}, exitUsage, `--router "hz-a": want SITE=HOST:PORT`},
		{[]string{"chaos", "proxy-config", "--config", minimalFile, "--base-port", "65530", "--router", "hz-x=127.0.0.1:1"}, exitInvalidConfig, `site "hz-x" is not in the topology`},
		{[]string{"chaos", "proxy-config", "--config", minimalFile, "--base-port", "1", "--env", "prod"}, exitInvalidConfig, "prod"},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// A process given a proxy config that lacks a route to a node of another
// site refuses to start (exit 3), naming the missing addresses, before it
// listens on anything.
func TestViaProxyRefusesAnIncompleteConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := proxy.Config{Routes: []proxy.Route{
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:17000", TargetAddr: "127.0.0.1:7102", TargetSite: "hz-b"},
	}}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, "partial.json")
	if err := os.WriteFile(partial, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"routes": [{"from_site": "hz-a", "listen_addr": "0.0.0.0:1", "target_addr": "127.0.0.1:7102", "target_site": "hz-b"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"node", "--config", minimalFile, "--node", "hz-a-1", "--data", filepath.Join(dir, "n"), "--env", "test", "--via-proxy", partial, "--insecure"},
			[]string{`no route from site "hz-a"`, "127.0.0.1:7202", "127.0.0.1:7103", "127.0.0.1:7203"}},
		{[]string{"router", "--config", minimalFile, "--site", "hz-a", "--id", "r", "--listen", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--env", "test", "--via-proxy", partial, "--insecure"},
			[]string{`no route from site "hz-a"`, "127.0.0.1:7202"}},
		{[]string{"node", "--config", minimalFile, "--node", "hz-a-1", "--data", filepath.Join(dir, "n"), "--env", "test", "--via-proxy", broken, "--insecure"},
			[]string{"routes[0].listen_addr", "every interface"}},
		{[]string{"router", "--config", minimalFile, "--site", "hz-a", "--id", "r", "--listen", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--env", "test", "--insecure", "--via-proxy", filepath.Join(dir, "missing.json")},
			[]string{"--via-proxy", "missing.json"}},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		wantCode := exitInvalidConfig
		if strings.HasSuffix(tt.args[len(tt.args)-1], "missing.json") {
			wantCode = exitFailure // unreadable, not invalid
		}
		if code != wantCode {
			t.Errorf("%v: exit %d, want %d; stderr %q", tt.args[:1], code, wantCode, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr does not mention %q:\n%s", tt.args[:1], w, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "n")); !os.IsNotExist(err) {
		t.Errorf("the refused node created its data directory (%v)", err)
	}
}
