package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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
