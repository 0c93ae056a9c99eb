package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func validConfig() Config {
	cfg := DefaultConfig()
	cfg.Name = "n1"
	cfg.BindAddr = "127.0.0.1:7946"
	cfg.Seeds = []string{"10.0.0.2:7946", "node-2.hz-b.internal:7946", "[::1]:7946"}
	cfg.Meta = func() *pb.MemberMeta { return &pb.MemberMeta{Kind: "node"} }
	return cfg
}

func TestValidateAcceptsDefaults(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := validConfig()
	cfg.BindAddr = "127.0.0.1:0" // tests
	cfg.Seeds = nil              // the first member
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryViolation(t *testing.T) {
	err := Config{}.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{
		"Name is required", "BindAddr is required", "Meta is required",
		"ProbeInterval (0s) must be positive", "ProbeTimeout (0s) must be positive",
		"GossipInterval (0s)", "PushPullInterval (0s)", "TCPTimeout (0s)", "RejoinInterval (0s)",
		"GossipToTheDeadTime (0s)", "LeaveTimeout (0s)", "UpdateTimeout (0s)",
		"SuspicionMult (0) must be at least 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	cfg := validConfig()
	cfg.Name = strings.Repeat("n", nameBytesMax+1)
	cfg.BindAddr = "localhost:7946"
	cfg.Seeds = []string{"10.0.0.2", ":7946", "10.0.0.3:0", "10.0.0.4:http", "10.0.0.5:7946"}
	cfg.ProbeTimeout = time.Second
	cfg.ProbeInterval = 500 * time.Millisecond
	err = cfg.Validate()
	for _, want := range []string{
		"Name (256 bytes) is longer than 255 bytes",
		`BindAddr ("localhost:7946"): host must be an IP literal`,
		`Seeds[0] ("10.0.0.2")`,
		`Seeds[1] (":7946"): host is empty`,
		`Seeds[2] ("10.0.0.3:0"): port 0 is out of range`,
		`Seeds[3] ("10.0.0.4:http"): port "http" is not a number`,
		"ProbeTimeout (1s) must be less than ProbeInterval (500ms)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "Seeds[4]") {
		t.Errorf("valid seed reported:\n%v", err)
	}
	if n := strings.Count(err.Error(), "\n"); n != 7 {
		t.Errorf("%d lines, want the prefix and 7 violations:\n%v", n+1, err)
	}
}
