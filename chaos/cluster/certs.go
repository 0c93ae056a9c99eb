package cluster

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/topology"
)

// The cluster is secure by default: Start creates a throwaway CA in
// Dir/certs and a certificate for every node and router, an operator
// (OperatorName) and an API client (ClientName); Config.Insecure runs it
// on plain TCP instead.

// Identities of the cluster's tools: OperatorName runs reconciliations and
// drills, ClientName is the workload's API client.
const (
	OperatorName = "chaos-operator"
	ClientName   = "chaos-client"
)

// certValidity is the life of the throwaway certificates: longer than any
// run, short enough not to matter if one leaks.
const certValidity = 48 * time.Hour

// routerID is the id (and certificate name) of the router of site.
func routerID(site string) string { return "router-" + site }

// CertsDir is where the cluster's CA and certificates are ("" when
// insecure).
func (c *Cluster) CertsDir() string {
	if c.cfg.Insecure {
		return ""
	}
	return filepath.Join(c.cfg.Dir, "certs")
}

// issueCerts creates the CA and every certificate of the cluster, and the
// gossip key.
func (c *Cluster) issueCerts() error {
	dir := c.CertsDir()
	if dir == "" {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("cluster: gossip key: %w", err)
	}
	c.gossipKeys = [][]byte{key}
	var routers []string
	for _, s := range c.Topology.Sites() {
		routers = append(routers, routerID(s.ID))
	}
	return IssueCerts(dir, c.Topology, routers, OperatorName, ClientName)
}

// IssueCerts makes a throwaway CA in dir and certificates for every node
// of topo, for routers, an operator and an API client; nodes and routers
// serve on 127.0.0.1 (a test's machine).
func IssueCerts(dir string, topo *topology.Topology, routers []string, operator, client string) error {
	if _, err := auth.CreateCA(dir, "", certValidity); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	ids := []auth.Identity{{Role: auth.RoleOperator, Name: operator}, {Role: auth.RoleClient, Name: client}}
	for _, n := range topo.Nodes() {
		ids = append(ids, auth.Identity{Role: auth.RoleNode, Name: n.ID})
	}
	for _, r := range routers {
		ids = append(ids, auth.Identity{Role: auth.RoleRouter, Name: r})
	}
	for _, id := range ids {
		var hosts []string
		if id.Role == auth.RoleNode || id.Role == auth.RoleRouter {
			hosts = []string{"127.0.0.1"}
		}
		if _, err := auth.Issue(dir, "", id, hosts, certValidity); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// Security is the security of identity id in this cluster (auth.Insecure
// when the cluster is).
func (c *Cluster) Security(id auth.Identity) (*auth.Security, error) {
	if c.cfg.Insecure {
		return auth.Insecure(c.cfg.Logger), nil
	}
	return auth.Secure(c.CertsDir(), id, c.cfg.Logger, nil)
}

// As is the security of an identity of the cluster with role, for a
// test's or a tool's dialer: its operator, its API client, the router of
// its first site, or its first node.
func (c *Cluster) As(role auth.Role) *auth.Security {
	var name string
	switch role {
	case auth.RoleOperator:
		name = OperatorName
	case auth.RoleClient:
		name = ClientName
	case auth.RoleRouter:
		name = routerID(c.Topology.Sites()[0].ID)
	case auth.RoleNode:
		name = c.Topology.Nodes()[0].ID
	}
	sec, err := c.Security(auth.Identity{Role: role, Name: name})
	if err != nil {
		panic(fmt.Sprintf("cluster: the %s certificate the cluster issued: %v", role, err)) // a harness bug
	}
	return sec
}

// DialOption is the transport credentials of a dialer with the given role
// (see As).
func (c *Cluster) DialOption(role auth.Role) grpc.DialOption { return c.As(role).DialCredentials() }
