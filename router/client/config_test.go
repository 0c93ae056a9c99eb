package client

import (
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryViolation(t *testing.T) {
	cfg := Config{
		Region: "hangzhou",
		Routers: map[string][]string{
			"shanghai": {"10.0.0.1:7000", "no-port", "10.0.0.1:7000"},
			"beijing":  {},
			"":         {"10.0.0.9:7000"},
		},
		Deadline:       time.Second,
		AttemptTimeout: 2 * time.Second,
		BackoffMin:     time.Second,
		BackoffMax:     10 * time.Millisecond,
		ProbeInterval:  -time.Second,
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		`Routers has no entry for the own Region "hangzhou"`,
		`Routers has an empty region name`,
		`Routers["beijing"] has no addresses`,
		`Routers["shanghai"][1] ("no-port") is not host:port`,
		`Routers["shanghai"][2] ("10.0.0.1:7000") is already listed for region "shanghai"`,
		`ProbeInterval (-1s) cannot be negative`,
		`AttemptTimeout (2s) cannot be longer than Deadline (1s)`,
		`BackoffMin (1s) cannot be larger than BackoffMax (10ms)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted an invalid config")
	}

	err = Config{}.Validate()
	for _, want := range []string{"Region is required", "Routers is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestValidateAcceptsMinimalConfig(t *testing.T) {
	cfg := Config{Region: "hangzhou", Routers: map[string][]string{"hangzhou": {"127.0.0.1:7000"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.withDefaults()
	if d.Deadline != 10*time.Second || d.AttemptTimeout != 2*time.Second || d.BackoffMin != 20*time.Millisecond ||
		d.BackoffMax != 500*time.Millisecond || d.ProbeInterval != time.Second || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
}
