package failover

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValidates(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
	// The documented defaults.
	want := Config{
		ObservationAgeMax: 2 * time.Second,
		ObserverSitesMin:  2,
		DownAfter:         time.Second,
		RecoverAfter:      2 * time.Second,
		HoldDown:          10 * time.Second,
		HoldDownMax:       5 * time.Minute,
		FlapResetAfter:    15 * time.Minute,
		FailbackWaveMax:   2,
		MovesInFlightMax:  16,
		CatchUpLagMax:     256,
	}
	if cfg != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", cfg, want)
	}
}

func TestConfigValidateReportsEveryViolation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ObserverSitesMin = 1
	cfg.FailbackWaveMax = 0
	cfg.DownAfter = -time.Second
	cfg.ObservationAgeMax = 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"ObserverSitesMin (1) must be at least 2",
		"FailbackWaveMax (0) must be at least 1",
		"DownAfter (-1s) cannot be negative",
		"ObservationAgeMax (0s) must be positive",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n != 4 {
		t.Errorf("error has %d lines, want 4 (one per violation):\n%s", n, msg)
	}
	// Fields that are fine are not reported.
	for _, field := range []string{"RecoverAfter", "HoldDown", "MovesInFlightMax", "FlapResetAfter"} {
		if strings.Contains(msg, field) {
			t.Errorf("error mentions valid field %s:\n%s", field, msg)
		}
	}
}

func TestConfigValidateEachField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"zero DownAfter is fine", func(c *Config) { c.DownAfter = 0 }, ""},
		{"zero RecoverAfter is fine", func(c *Config) { c.RecoverAfter = 0 }, ""},
		{"zero HoldDown is fine", func(c *Config) { c.HoldDown = 0 }, ""},
		{"zero CatchUpLagMax is fine", func(c *Config) { c.CatchUpLagMax = 0 }, ""},
		{"ObserverSitesMin 3", func(c *Config) { c.ObserverSitesMin = 3 }, ""},
		{"negative ObservationAgeMax", func(c *Config) { c.ObservationAgeMax = -time.Millisecond }, "ObservationAgeMax"},
		{"ObserverSitesMin 0", func(c *Config) { c.ObserverSitesMin = 0 }, "ObserverSitesMin"},
		{"negative RecoverAfter", func(c *Config) { c.RecoverAfter = -1 }, "RecoverAfter"},
		{"negative HoldDown", func(c *Config) { c.HoldDown = -1 }, "HoldDown"},
		{"zero MovesInFlightMax", func(c *Config) { c.MovesInFlightMax = 0 }, "MovesInFlightMax"},
		{"negative FailbackWaveMax", func(c *Config) { c.FailbackWaveMax = -3 }, "FailbackWaveMax (-3)"},
		{"HoldDownMax = HoldDown is fine (no growth)", func(c *Config) { c.HoldDownMax = c.HoldDown }, ""},
		{"FlapResetAfter = HoldDownMax is fine", func(c *Config) { c.FlapResetAfter = c.HoldDownMax }, ""},
		{"all of the hold-down zero is fine", func(c *Config) { c.HoldDown, c.HoldDownMax, c.FlapResetAfter = 0, 0, 0 }, ""},
		{"HoldDownMax below HoldDown", func(c *Config) { c.HoldDownMax = time.Second }, "HoldDownMax (1s) must be at least HoldDown (10s)"},
		{"negative HoldDownMax", func(c *Config) { c.HoldDownMax = -time.Second }, "HoldDownMax (-1s) cannot be negative"},
		{"FlapResetAfter below HoldDownMax", func(c *Config) { c.FlapResetAfter = time.Minute }, "FlapResetAfter (1m0s) must be at least HoldDownMax (5m0s)"},
		{"negative FlapResetAfter", func(c *Config) { c.FlapResetAfter = -1 }, "FlapResetAfter (-1ns) cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate() = nil, want an error about %s", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate() = %v, want it to mention %s", err, tc.want)
			}
		})
	}
}

// The flap damping fields are reported together with the others, with
// their values.
func TestConfigValidateReportsDampingViolationsWithTheOthers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HoldDown = 20 * time.Second
	cfg.HoldDownMax = 15 * time.Second
	cfg.FlapResetAfter = 10 * time.Second
	cfg.MovesInFlightMax = 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"HoldDownMax (15s) must be at least HoldDown (20s)",
		"FlapResetAfter (10s) must be at least HoldDownMax (15s)",
		"MovesInFlightMax (0) must be at least 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n != 3 {
		t.Errorf("error has %d lines, want 3 (one per violation):\n%s", n, msg)
	}
}
