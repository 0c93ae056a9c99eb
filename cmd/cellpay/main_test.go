package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// runCLI runs the cellpay command line in process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it once the diff is understood):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "cellpay: a subcommand is required\nrun 'cellpay --help' for usage\n"},
		{[]string{"topolgy"}, `cellpay: unknown command "topolgy" for "cellpay"; did you mean topology?` + "\nrun 'cellpay --help' for usage\n"},
		{[]string{"--bogus"}, "cellpay: unknown flag: --bogus\nrun 'cellpay --help' for usage\n"},
		{[]string{"topology"}, "cellpay: a subcommand is required\nrun 'cellpay topology --help' for usage\n"},
		{[]string{"topology", "valid"}, `cellpay: unknown command "valid" for "cellpay topology"; did you mean validate?` + "\nrun 'cellpay topology --help' for usage\n"},
		{[]string{"topology", "validate"}, "cellpay: want 1 argument(s) (FILE), got 0\nrun 'cellpay topology validate --help' for usage\n"},
		{[]string{"topology", "validate", "a.yaml", "b.yaml"}, "cellpay: want 1 argument(s) (FILE), got 2\nrun 'cellpay topology validate --help' for usage\n"},
		{[]string{"topology", "validate", demoFile, "-o", "yaml"},
			`cellpay: invalid argument "yaml" for "-o, --output" flag: unknown output format "yaml": want table or json` + "\nrun 'cellpay topology validate --help' for usage\n"},
		{[]string{"topology", "validate", demoFile, "--env="}, "cellpay: --env is empty\nrun 'cellpay topology validate --help' for usage\n"},
		{[]string{"node", "extra"}, `cellpay: takes no arguments, got ["extra"]` + "\nrun 'cellpay node --help' for usage\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (usage)", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr != tt.want {
				t.Errorf("stderr = %q, want %q", stderr, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"topology", "validate", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, stdout, stderr)
		}
	}
	if _, stdout, _ := runCLI(t, "--help"); !strings.Contains(stdout, "Exit codes: 0 success, 1 failure, 2 bad arguments or flags,\n3 invalid configuration") {
		t.Errorf("root help does not document the exit codes:\n%s", stdout)
	}
}
