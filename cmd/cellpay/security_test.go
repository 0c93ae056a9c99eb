package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
)

// Names of the throwaway identities secureEnv issues besides the
// topology's nodes and the routers it is given.
const (
	testOperatorName = "test-operator"
	testClientName   = "test-client"
)

// secureEnv makes a throwaway CA with certificates for every node of the
// topology at topoPath, for routers, an operator and a client, and a gossip
// key, and points $CELLPAY_CERTS_DIR and $CELLPAY_GOSSIP_KEY_FILE at them
// (processes the test starts inherit them). It returns the certs dir.
func secureEnv(t *testing.T, topoPath string, routers ...string) string {
	t.Helper()
	topo, err := topology.Load(topoPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "certs")
	if err := cluster.IssueCerts(dir, topo, routers, testOperatorName, testClientName); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(certsDirEnv, dir)
	t.Setenv(gossipKeyFileEnv, key)
	return dir
}

// useClusterCerts points the tools at an in-process cluster's certificates.
func useClusterCerts(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	t.Setenv(certsDirEnv, c.CertsDir())
}

// Without certificates a process refuses to start unless --insecure is
// given, and --insecure is refused for production.
func TestSecurityFlags(t *testing.T) {
	t.Setenv(certsDirEnv, "")
	t.Setenv(gossipKeyFileEnv, "")
	data := t.TempDir()
	minimal, err := os.ReadFile(minimalFile)
	if err != nil {
		t.Fatal(err)
	}
	prod := filepath.Join(data, "prod.yaml")
	if err := os.WriteFile(prod, []byte(strings.Replace(string(minimal), "environment: test", "environment: prod", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"node", "--config", minimalFile, "--node", "hz-a-1", "--data", data, "--env", "test"}, exitInvalidConfig, "no --certs-dir"},
		{[]string{"node", "--config", minimalFile, "--node", "hz-a-1", "--data", data, "--env", "test", "--insecure", "--certs-dir", data}, exitUsage, "exclude each other"},
		{[]string{"router", "--config", minimalFile, "--site", "hz-a", "--id", "r1", "--listen", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--env", "test"}, exitInvalidConfig, "no --certs-dir"},
		{[]string{"drill", "status", "--config", minimalFile}, exitInvalidConfig, "no --certs-dir"},
		{[]string{"node", "--config", prod, "--node", "hz-a-1", "--data", data, "--env", "prod", "--insecure"}, exitInvalidConfig, "refused in production"},
		{[]string{"drill", "status", "--config", prod, "--insecure"}, exitInvalidConfig, "refused in production"},
		{[]string{"node", "--config", minimalFile, "--node", "hz-a-1", "--data", data, "--env", "test", "--certs-dir", filepath.Join(data, "none")}, exitInvalidConfig, "auth:"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("cellpay %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}
