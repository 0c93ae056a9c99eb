package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// certCLI runs cellpay and fails the test unless it exits with want.
func certCLI(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != want {
		t.Fatalf("cellpay %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func TestCertCreateNodeAndList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	stdout, _ := certCLI(t, exitOK, "cert", "create-ca", "--certs-dir", dir)
	if !strings.Contains(stdout, filepath.Join(dir, "ca.crt")) {
		t.Errorf("create-ca: %q", stdout)
	}
	stdout, _ = certCLI(t, exitOK, "cert", "create-node", "hz-a-1", "--config", minimalFile, "--certs-dir", dir)
	if !strings.Contains(stdout, "node-hz-a-1.crt") || !strings.Contains(stdout, "for node/hz-a-1") {
		t.Errorf("create-node: %q", stdout)
	}
	certCLI(t, exitOK, "cert", "create-router", "router-hz", "--host", "127.0.0.1", "--host", "router.example.com", "--certs-dir", dir)
	certCLI(t, exitOK, "cert", "create-operator", "alice", "--certs-dir", dir)
	certCLI(t, exitOK, "cert", "create-client", "shop-1", "--certs-dir", dir, "--validity", "1h")
	if runtime.GOOS != "windows" {
		info, err := os.Stat(filepath.Join(dir, "node-hz-a-1.key"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("node key: %v, %v; want mode 0600", info.Mode(), err)
		}
	}

	table, _ := certCLI(t, exitOK, "cert", "list", "--certs-dir", dir)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], "FILE ") || !strings.HasSuffix(lines[7], "5 certificates in "+dir) {
		t.Fatalf("list:\n%s", table)
	}
	for i, want := range []string{
		"ca.crt ca - CN=cellpay CA,O=cellpay",
		"client-shop-1.crt client shop-1 CN=shop-1,OU=client,O=cellpay",
		"node-hz-a-1.crt node hz-a-1 CN=hz-a-1,OU=node,O=cellpay",
		"operator-alice.crt operator alice",
		"router-router-hz.crt router router-hz",
	} {
		fields := strings.Join(strings.Fields(lines[i+1]), " ")
		if !strings.HasPrefix(fields, want) || !strings.HasSuffix(fields, " ok") {
			t.Errorf("row %d = %q, want it to start with %q and end with ok", i+1, fields, want)
		}
	}
	if !strings.Contains(lines[3], " 127.0.0.1,cellpay://node/hz-a-1 ") {
		t.Errorf("the node's SANs (raft_addr and client_addr hosts, once): %q", lines[3])
	}

	out, _ := certCLI(t, exitOK, "cert", "list", "--certs-dir", dir, "-o", "json")
	var report certListReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(report.Certificates) != 5 || report.Dir != dir {
		t.Fatalf("json: %+v", report)
	}
	node := report.Certificates[2]
	if node.Role != "node" || node.Name != "hz-a-1" || !slices.Equal(node.IPAddresses, []string{"127.0.0.1"}) ||
		!slices.Equal(node.URIs, []string{"cellpay://node/hz-a-1"}) || node.Problem != "" || node.NotAfter.Before(time.Now()) {
		t.Errorf("json node: %+v", node)
	}
	if client := report.Certificates[1]; client.NotAfter.After(time.Now().Add(time.Hour)) {
		t.Errorf("the client's --validity 1h: expires %s", client.NotAfter)
	}
}

func TestCertRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	certCLI(t, exitOK, "cert", "create-ca", "--certs-dir", dir)
	certCLI(t, exitOK, "cert", "create-operator", "alice", "--certs-dir", dir)
	invalidTopology := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(invalidTopology, []byte("environment: test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create-ca", "--certs-dir", dir}, exitFailure, "a CA already exists"},
		{[]string{"create-ca"}, exitUsage, "--certs-dir is required"},
		{[]string{"create-ca", "--certs-dir", t.TempDir(), "--validity", "0s"}, exitUsage, "--validity 0s"},
		{[]string{"create-node", "nope", "--config", minimalFile, "--certs-dir", dir}, exitUsage, `node "nope" is not in the topology`},
		{[]string{"create-node", "hz-a-1", "--certs-dir", dir}, exitUsage, "--config is required"},
		{[]string{"create-node", "hz-a-1"}, exitUsage, "--config is required\n--certs-dir is required"},
		{[]string{"create-node", "hz-a-1", "--config", invalidTopology, "--certs-dir", dir}, exitInvalidConfig, "needs at least one site"},
		{[]string{"create-router", "router-hz", "--certs-dir", dir}, exitUsage, "--host is required"},
		{[]string{"create-router", "router-hz", "--host", "10.0.0.1:443", "--certs-dir", dir}, exitUsage, `"10.0.0.1:443"`},
		{[]string{"create-client", "a/b", "--certs-dir", dir}, exitUsage, `"a/b"`},
		{[]string{"create-client", "--certs-dir", dir}, exitUsage, "want 1 argument(s) (NAME)"},
		{[]string{"create-operator", "alice", "--certs-dir", dir}, exitFailure, "pass --overwrite"},
		{[]string{"list"}, exitUsage, "--certs-dir is required"},
		{[]string{"list", "--certs-dir", filepath.Join(dir, "missing")}, exitFailure, "auth: "},
		{[]string{"sign"}, exitUsage, `unknown command "sign"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr := certCLI(t, tt.code, append([]string{"cert"}, tt.args...)...)
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want %q in it", stderr, tt.want)
			}
		})
	}
	// --overwrite replaces (rotation).
	before, _ := os.ReadFile(filepath.Join(dir, "operator-alice.crt"))
	certCLI(t, exitOK, "cert", "create-operator", "alice", "--certs-dir", dir, "--overwrite")
	if after, _ := os.ReadFile(filepath.Join(dir, "operator-alice.crt")); string(after) == string(before) {
		t.Error("--overwrite kept the old certificate")
	}
}

// The table printer, on fixed certificates (go test -run TestCertListTable).
func TestCertListTable(t *testing.T) {
	expires := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	report := certListReport{Dir: "certs", Certificates: []certReport{
		{File: "ca.crt", Role: "ca", Subject: "CN=cellpay CA,O=cellpay", NotAfter: expires},
		{File: "node-hz-a-1.crt", Role: "node", Name: "hz-a-1", Subject: "CN=hz-a-1,OU=node,O=cellpay", NotAfter: expires,
			IPAddresses: []string{"127.0.0.1"}, DNSNames: []string{"hz-a-1.example.com"}, URIs: []string{"cellpay://node/hz-a-1"}},
		{File: "junk.crt", Problem: "auth: certs/junk.crt: not PEM after 0 certificate(s)"},
	}}
	var out strings.Builder
	if err := writeCertTable(&out, report); err != nil {
		t.Fatal(err)
	}
	want := `FILE             ROLE  NAME    SUBJECT                      EXPIRES               SANS                                                STATUS
ca.crt           ca    -       CN=cellpay CA,O=cellpay      2027-01-02T03:04:05Z  -                                                   ok
node-hz-a-1.crt  node  hz-a-1  CN=hz-a-1,OU=node,O=cellpay  2027-01-02T03:04:05Z  127.0.0.1,hz-a-1.example.com,cellpay://node/hz-a-1  ok
junk.crt         -     -       -                            -                     -                                                   auth: certs/junk.crt: not PEM after 0 certificate(s)

3 certificates in certs, 1 with problems
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}
