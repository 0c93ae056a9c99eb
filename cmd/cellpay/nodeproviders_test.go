package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/channel"
)

func TestParseProviders(t *testing.T) {
	cmd := &cobra.Command{Use: "node"}
	got, err := parseProviders(cmd, []string{"bank-a=http://127.0.0.1:7500", "bank-b=http://127.0.0.1:7501"}, "")
	if err != nil || len(got) != 2 || got[0].Name() != "bank-a" || got[1].Name() != "bank-b" {
		t.Fatalf("parseProviders = %v, %v; want bank-a then bank-b", got, err)
	}
	if got, err := parseProviders(cmd, nil, ""); err != nil || got != nil {
		t.Fatalf("no providers: %v, %v; want none and no error", got, err)
	}

	_, err = parseProviders(cmd, []string{"bank-a", "=http://x", "bank-c=http://127.0.0.1:1"}, "")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("bad syntax: %v; want a usage error (exit 2)", err)
	}
	for _, want := range []string{`--provider[0] "bank-a"`, `--provider[1] "=http://x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := parseProviders(cmd, []string{"bank-a=not a url"}, ""); !errors.As(err, &ee) || ee.code != exitInvalidConfig {
		t.Fatalf("an invalid URL: %v; want exit 3", err)
	}
	if _, err := parseProviders(cmd, nil, "/some/token"); !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("a token file without providers: %v; want a usage error", err)
	}
}

// windowOfProvider is the idempotency window p promises (0: none).
func windowOfProvider(t *testing.T, p channel.Provider) time.Duration {
	t.Helper()
	w, ok := p.(channel.IdempotencyWindower)
	if !ok {
		t.Fatalf("provider %s is not an IdempotencyWindower", p.Name())
	}
	return w.IdempotencyWindow()
}

func TestParseProvidersIdempotencyWindows(t *testing.T) {
	cmd := &cobra.Command{Use: "node"}
	got, err := parseProvidersWithWindows(cmd, []string{"bank-a=http://127.0.0.1:7500", "bank-b=http://127.0.0.1:7501", "bank-c=http://127.0.0.1:7502"}, "",
		[]string{"bank-b=720h", "bank-a=24h"})
	if err != nil || len(got) != 3 {
		t.Fatalf("parseProvidersWithWindows = %v, %v", got, err)
	}
	for i, want := range []time.Duration{24 * time.Hour, 720 * time.Hour, 0} {
		if w := windowOfProvider(t, got[i]); w != want {
			t.Errorf("%s: window %s, want %s", got[i].Name(), w, want)
		}
	}
	// Without the flag (and for `cellpay reconcile`), none is promised.
	got, err = parseProviders(cmd, []string{"bank-a=http://127.0.0.1:7500"}, "")
	if err != nil || windowOfProvider(t, got[0]) != 0 {
		t.Fatalf("parseProviders = %v, %v; want bank-a promising no window", got, err)
	}

	var ee *exitError
	_, err = parseProvidersWithWindows(cmd, []string{"bank-a=http://127.0.0.1:7500"}, "",
		[]string{"bank-a", "bank-a=a day", "bank-a=24h", "bank-a=48h", "bank-x=24h", "=1h"})
	if !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("bad windows: %v; want a usage error (exit 2)", err)
	}
	for _, want := range []string{
		`--provider-idempotency-window[0] "bank-a": want NAME=DURATION`,
		`--provider-idempotency-window[1] "bank-a=a day": "a day" is not a duration`,
		`--provider-idempotency-window[3] "bank-a=48h": bank-a already has one (--provider-idempotency-window[2] "bank-a=24h")`,
		`--provider-idempotency-window[4] "bank-x=24h": no --provider is named "bank-x"`,
		`--provider-idempotency-window[5] "=1h": want NAME=DURATION`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	for _, window := range []string{"-1h", "8761h"} {
		_, err := parseProvidersWithWindows(cmd, []string{"bank-a=http://127.0.0.1:7500"}, "", []string{"bank-a=" + window})
		if !errors.As(err, &ee) || ee.code != exitInvalidConfig || !strings.Contains(err.Error(), "idempotency_window") || !strings.Contains(err.Error(), "--provider-idempotency-window[0]") {
			t.Errorf("window %s: %v; want exit 3 naming the window", window, err)
		}
	}
	if _, err := parseProvidersWithWindows(cmd, nil, "", []string{"bank-a=24h"}); !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("a window without providers: %v; want a usage error", err)
	}
}

// `cellpay node` takes the flag (parsed with the others).
func TestNodeCommandHasProviderIdempotencyWindowFlag(t *testing.T) {
	cmd := newNodeCmd()
	if err := cmd.ParseFlags([]string{"--provider", "bank-a=http://127.0.0.1:7500", "--provider-idempotency-window", "bank-a=24h", "--provider-idempotency-window", "bank-b=1h"}); err != nil {
		t.Fatal(err)
	}
	windows, err := cmd.Flags().GetStringArray("provider-idempotency-window")
	if err != nil || len(windows) != 2 || windows[0] != "bank-a=24h" || windows[1] != "bank-b=1h" {
		t.Fatalf("--provider-idempotency-window = %v, %v", windows, err)
	}
}
