package proxy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(strings.NewReader(`{
	  "control_addr": "127.0.0.1:7400",
	  "seed": 42,
	  "routes": [
	    {"name": "n", "from_site": "hz-a", "listen_addr": "127.0.0.1:17101", "target_addr": "127.0.0.1:7101", "target_site": "sh-a"},
	    {"from_site": "clients-hangzhou", "listen_addr": "127.0.0.1:18001", "target_addr": "127.0.0.1:8001", "target_site": "hz-a"}
	  ],
	  "links": [{"from": "hz-a", "to": "sh-a", "link": {"delay": "15ms"}}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Seed != 42 || len(c.Routes) != 2 || c.Routes[1].routeName() != "clients-hangzhou->127.0.0.1:8001" || c.Links[0].Link.Delay != 15*time.Millisecond {
		t.Fatalf("config = %+v", c)
	}
}

func TestConfigErrorsNameEveryField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{`{"routes":[]}`, []string{"routes: at least one route"}},
		{`{"routez":[]}`, []string{`routez`}},
		{`{"control_addr":"nope","routes":[{"from_site":"","listen_addr":"x","target_addr":"127.0.0.1:1","target_site":"b c"}]}`,
			[]string{"control_addr", "routes[0].from_site", "routes[0].listen_addr", "routes[0].target_site"}},
		{`{"routes":[
		   {"name":"r","from_site":"a","listen_addr":"127.0.0.1:5","target_addr":"127.0.0.1:1","target_site":"b"},
		   {"name":"r","from_site":"a","listen_addr":"127.0.0.1:5","target_addr":"127.0.0.1:1","target_site":"c"}]}`,
			[]string{"routes[1].name", "routes[1].listen_addr", "routes[1].target_site"}},
		{`{"routes":[{"from_site":"a","listen_addr":"127.0.0.1:0","target_addr":"127.0.0.1:1","target_site":"b"}],
		   "links":[{"from":"a","to":"","link":{"loss":2}}]}`, []string{"links[0].to", "links[0].link.loss"}},
		{`{"routes":[{"from_site":"a","listen_addr":"127.0.0.1:0","target_addr":"127.0.0.1:1","target_site":"b"}],
		   "links":[{"from":"a","to":"b","link":{"delay":"x"}}]}`, []string{"links[0].link.delay"}},
		{`{"routes":[{"from_site":"a","listen_addr":"127.0.0.1:0","target_addr":"127.0.0.1:1","target_site":"b"}],
		   "links":[{"from":"a","to":"b","link":[]}]}`, []string{"links[0].link:"}},
		{`{"seed":"one"}`, []string{"seed"}},
		{`{} {}`, []string{"trailing"}},
	}
	for _, tt := range tests {
		_, err := ParseConfig(strings.NewReader(tt.in))
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", tt.in, err)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want it to name %s", tt.in, err, want)
			}
		}
	}
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "proxy.json")
	if err := os.WriteFile(path, []byte(`{"routes":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrInvalidConfig naming %s", err, path)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil || errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing file: err = %v, want a plain I/O error", err)
	}
}
