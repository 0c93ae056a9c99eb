package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is what a certificate lets its holder be. One certificate, one role.
type Role string

// The roles.
const (
	// RoleNode: a node process (cell replicas, the control plane, the
	// courier); the name is its node id in the topology.
	RoleNode Role = "node"
	// RoleRouter: a regional router; the name is its router id.
	RoleRouter Role = "router"
	// RoleOperator: a person or tool running drills, reconciliations and
	// other operator commands; the name is the operator's.
	RoleOperator Role = "operator"
	// RoleClient: an API client of the routers.
	RoleClient Role = "client"
)

// Roles lists every role, in a fixed order.
var Roles = []Role{RoleNode, RoleRouter, RoleOperator, RoleClient}

// uriScheme is the scheme of the URI SAN that carries an identity.
const uriScheme = "cellpay"

// NameBytesMax bounds an identity's name.
const NameBytesMax = 128

// Identity is who a certificate names: its role and name (a node id,
// router id, operator or client name).
type Identity struct {
	Role Role
	Name string
}

func (id Identity) String() string { return string(id.Role) + "/" + id.Name }

// URI is the identity's URI SAN: cellpay://<role>/<name>.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: uriScheme, Host: string(id.Role), Path: "/" + id.Name}
}

// Validate reports a role that is not one of Roles, or a name that is
// empty, longer than NameBytesMax, or not made of letters, digits, '-',
// '_' and '.'.
func (id Identity) Validate() error {
	known := false
	for _, r := range Roles {
		known = known || r == id.Role
	}
	if !known {
		return fmt.Errorf("auth: unknown role %q (want node, router, operator or client)", id.Role)
	}
	if id.Name == "" || len(id.Name) > NameBytesMax {
		return fmt.Errorf("auth: the name of a %s must be 1 to %d bytes, got %d", id.Role, NameBytesMax, len(id.Name))
	}
	for _, c := range id.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("auth: the name %q of a %s may hold only letters, digits, '-', '_' and '.'", id.Name, id.Role)
		}
	}
	return nil
}

// IdentityOf reads the identity from a certificate's URI SANs: exactly one
// cellpay:// URI, with a known role and a valid name.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errors.New("auth: no certificate")
	}
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		id := Identity{Role: Role(u.Host), Name: strings.TrimPrefix(u.Path, "/")}
		if err := id.Validate(); err != nil {
			return Identity{}, fmt.Errorf("auth: certificate %q: %w", cert.Subject.CommonName, err)
		}
		found = append(found, id)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Identity{}, fmt.Errorf("auth: certificate %q carries no cellpay:// identity", cert.Subject.CommonName)
	default:
		return Identity{}, fmt.Errorf("auth: certificate %q carries %d cellpay:// identities, want one", cert.Subject.CommonName, len(found))
	}
}
