package auth

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Identities of the tests, one per role.
var (
	testNode     = Identity{Role: RoleNode, Name: "hz-a-1"}
	testRouter   = Identity{Role: RoleRouter, Name: "router-hz"}
	testOperator = Identity{Role: RoleOperator, Name: "alice"}
	testClient   = Identity{Role: RoleClient, Name: "shop_1.eu"}
)

const testValidity = 24 * time.Hour

// testCA creates a CA in a new directory and returns the directory.
func testCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if _, err := CreateCA(dir, "", testValidity); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testIssue issues id in dir (nodes and routers for 127.0.0.1).
func testIssue(t *testing.T, dir string, id Identity) *x509.Certificate {
	t.Helper()
	var hosts []string
	if certServes(id.Role) {
		hosts = []string{"127.0.0.1"}
	}
	cert, err := Issue(dir, "", id, hosts, testValidity)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCreateCAIssueEveryRoleAndList(t *testing.T) {
	dir := testCA(t)
	node, err := Issue(dir, "", testNode, []string{"127.0.0.1", "::1", "Node-1.Example.com", "127.0.0.1"}, testValidity)
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Subject.CommonName; got != "hz-a-1" {
		t.Errorf("CN = %q, want hz-a-1", got)
	}
	if got := node.Subject.OrganizationalUnit; !slices.Equal(got, []string{"node"}) {
		t.Errorf("OU = %q, want [node]", got)
	}
	if len(node.IPAddresses) != 2 || !slices.Equal(node.DNSNames, []string{"node-1.example.com"}) {
		t.Errorf("SANs: IPs %v, DNS %v; want 127.0.0.1 and ::1 once each, node-1.example.com", node.IPAddresses, node.DNSNames)
	}
	if !slices.Equal(node.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("node ExtKeyUsage = %v, want server and client auth", node.ExtKeyUsage)
	}
	testIssue(t, dir, testRouter)
	operator := testIssue(t, dir, testOperator)
	if !slices.Equal(operator.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("operator ExtKeyUsage = %v, want client auth only", operator.ExtKeyUsage)
	}
	if operator.IsCA {
		t.Error("an issued certificate is a CA")
	}
	testIssue(t, dir, testClient)

	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, info := range infos {
		files = append(files, info.File)
		if info.Problem != "" {
			t.Errorf("%s: problem %q, want none", info.File, info.Problem)
		}
	}
	want := []string{"ca.crt", "client-shop_1.eu.crt", "node-hz-a-1.crt", "operator-alice.crt", "router-router-hz.crt"}
	if !slices.Equal(files, want) {
		t.Fatalf("List files = %q, want %q", files, want)
	}
	if !infos[0].IsCA || infos[0].Identity != (Identity{}) {
		t.Errorf("ca.crt: IsCA %v, identity %v; want a CA without identity", infos[0].IsCA, infos[0].Identity)
	}
	for i, id := range []Identity{testClient, testNode, testOperator, testRouter} {
		if got := infos[i+1].Identity; got != id {
			t.Errorf("%s: identity %v, want %v", infos[i+1].File, got, id)
		}
		if got := infos[i+1].URIs; !slices.Equal(got, []string{id.URI().String()}) {
			t.Errorf("%s: URIs %q, want %s", infos[i+1].File, got, id.URI())
		}
	}
	nodeInfo := infos[2]
	if !slices.Equal(nodeInfo.IPAddresses, []string{"127.0.0.1", "::1"}) || !nodeInfo.NotAfter.Equal(node.NotAfter) ||
		nodeInfo.Subject != "CN=hz-a-1,OU=node,O=cellpay" {
		t.Errorf("node info = %+v", nodeInfo)
	}
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file modes on Windows")
	}
	dir := testCA(t)
	testIssue(t, dir, testNode)
	want := map[string]os.FileMode{
		CACertFile: 0o644, CAKeyFile: 0o600,
		filepath.Base(CertPath(dir, testNode)): 0o644, filepath.Base(KeyPath(dir, testNode)): 0o600,
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("the directory holds %d files, want %d (no temporary files left)", len(entries), len(want))
	}
	for name, mode := range want {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %s, want %s", name, got, mode)
		}
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the certs directory: %v, %v; want mode 0700", info.Mode(), err)
	}
}

func TestCreateCARefusesToOverwrite(t *testing.T) {
	dir := testCA(t)
	before, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	_, err = CreateCA(dir, "", testValidity)
	if !errors.Is(err, ErrCAExists) || !strings.HasPrefix(err.Error(), "auth: ") {
		t.Fatalf("second CreateCA: %v, want ErrCAExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	if !bytes.Equal(before, after) {
		t.Error("ca.crt changed")
	}

	// A key left in the key directory is refused too, and nothing written.
	certsDir, keyDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(keyDir, CAKeyFile), []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateCA(certsDir, keyDir, testValidity); !errors.Is(err, ErrCAExists) {
		t.Fatalf("CreateCA over an existing ca.key: %v, want ErrCAExists", err)
	}
	if _, err := os.Stat(filepath.Join(certsDir, CACertFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ca.crt written after a refusal: %v", err)
	}
}

func TestCAKeyKeptElsewhere(t *testing.T) {
	certsDir, keyDir := filepath.Join(t.TempDir(), "certs"), filepath.Join(t.TempDir(), "ca-key")
	ca, err := CreateCA(certsDir, keyDir, testValidity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(certsDir, CAKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ca.key in the certs directory: %v", err)
	}
	if _, err := Issue(certsDir, "", testOperator, nil, testValidity); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
		t.Errorf("Issue without the CA key: %v, want an auth: error", err)
	}
	cert, err := Issue(certsDir, keyDir, testOperator, nil, testValidity)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Error(err)
	}
}

func TestIssueRefusesBadRequests(t *testing.T) {
	dir := testCA(t)
	long := strings.Repeat("a", NameBytesMax+1)
	for _, tt := range []struct {
		id       Identity
		hosts    []string
		validity time.Duration
		want     string // in the message: what is wrong
	}{
		{Identity{RoleNode, ""}, []string{"127.0.0.1"}, testValidity, `""`},
		{Identity{RoleNode, "a/b"}, []string{"127.0.0.1"}, testValidity, `"a/b"`},
		{Identity{RoleNode, "../x"}, []string{"127.0.0.1"}, testValidity, `"../x"`},
		{Identity{RoleOperator, "bob smith"}, nil, testValidity, `"bob smith"`},
		{Identity{RoleOperator, "bob\x00"}, nil, testValidity, `"bob\x00"`},
		{Identity{RoleOperator, long}, nil, testValidity, long},
		{Identity{"admin", "root"}, nil, testValidity, `"admin"`},
		{testOperator, []string{"127.0.0.1"}, testValidity, "takes no hosts"},
		{testNode, nil, testValidity, "at least one host"},
		{testNode, []string{"127.0.0.1:7101"}, testValidity, `"127.0.0.1:7101"`},
		{testRouter, []string{"bad_host.example"}, testValidity, `"bad_host.example"`},
		{testRouter, []string{"-x.example"}, testValidity, `"-x.example"`},
		{testNode, []string{"127.0.0.1"}, 0, "validity 0s"},
		{testNode, []string{"127.0.0.1"}, ValidityMax + time.Hour, "validity 87601h"},
	} {
		_, err := Issue(dir, "", tt.id, tt.hosts, tt.validity)
		if !errors.Is(err, ErrInvalidCertRequest) || !strings.HasPrefix(err.Error(), "auth: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Issue(%v, %q, %s): %v; want ErrInvalidCertRequest naming %s", tt.id, tt.hosts, tt.validity, err, tt.want)
		}
		if _, err := os.Stat(CertPath(dir, tt.id)); tt.id.Name != "" && !strings.Contains(tt.id.Name, "/") && err == nil {
			t.Errorf("%v: a certificate was written", tt.id)
		}
	}
	if _, err := CreateCA(t.TempDir(), "", -time.Hour); !errors.Is(err, ErrInvalidCertRequest) {
		t.Errorf("CreateCA with a negative validity: %v", err)
	}
}

func TestIssueNeverOutlivesTheCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := CreateCA(dir, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := Issue(dir, "", testOperator, nil, testValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("NotAfter %s, want the CA's %s", cert.NotAfter, ca.NotAfter)
	}
}

func TestIssueReplacesForRotation(t *testing.T) {
	dir := testCA(t)
	first := testIssue(t, dir, testNode)
	firstKey, _ := os.ReadFile(KeyPath(dir, testNode))
	second := testIssue(t, dir, testNode)
	secondKey, _ := os.ReadFile(KeyPath(dir, testNode))
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 || bytes.Equal(firstKey, secondKey) {
		t.Error("the second Issue kept the serial or the key")
	}
	infos, err := List(dir)
	if err != nil || len(infos) != 2 || infos[1].Serial != serialHex(second) {
		t.Errorf("List = %+v, %v; want the CA and the second certificate", infos, err)
	}
}

func TestListReportsProblems(t *testing.T) {
	dir := testCA(t)
	other := testCA(t)
	testIssue(t, other, testOperator)
	copyFile(t, CertPath(other, testOperator), CertPath(dir, testOperator))
	testIssue(t, dir, testRouter)
	copyFile(t, CertPath(dir, testRouter), filepath.Join(dir, "node-hz-a-1.crt"))
	if err := os.WriteFile(filepath.Join(dir, "client-junk.crt"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	problems := map[string]string{}
	for _, info := range infos {
		problems[info.File] = info.Problem
	}
	for file, want := range map[string]string{
		"ca.crt":               "",
		"router-router-hz.crt": "",
		"operator-alice.crt":   "not signed by this directory's ca.crt",
		"node-hz-a-1.crt":      "names router/router-hz but the file is node-hz-a-1.crt",
		"client-junk.crt":      "not PEM",
	} {
		got, ok := problems[file]
		if !ok || (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: problem %q (listed %v), want %q", file, got, ok, want)
		}
	}
	if _, err := List(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
		t.Errorf("List of a missing directory: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func serialHex(c *x509.Certificate) string {
	return certInfoOf("", c).Serial
}
