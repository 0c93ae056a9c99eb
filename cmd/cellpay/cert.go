package main

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/topology"
)

// certValidityDefault is the default validity of a CA and of the
// certificates it issues (which never outlive it).
const certValidityDefault = 8760 * time.Hour

// newCertCmd: cellpay cert create-ca|create-node|create-router|create-operator|create-client|list
func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Create and list the certificates of the mutual-TLS trust boundaries",
		Long: `Create a certificate authority and the certificates it issues, one per
identity (node, router, operator, client), and list them.

A certs directory holds ca.crt, which every process trusts, and one pair
<role>-<name>.crt / <role>-<name>.key per identity (e.g. node-hz-a-1.crt).
The CA's key, ca.key, is in the certs directory too unless --ca-key-dir puts
it elsewhere (keep it off the machines that only run processes: only the
create-* commands need it). Keys are ECDSA P-256, written with mode 0600.

A create-* command for an identity that has a certificate refuses unless
--overwrite is given; running processes pick a replaced certificate up on
SIGHUP, for new connections, without a restart.

Exit codes: 0 success, 1 failure (e.g. a CA exists already), 2 bad
arguments or flags (e.g. an invalid name), 3 invalid topology.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(
		newCertCreateCACmd(),
		newCertCreateNodeCmd(),
		newCertCreateRouterCmd(),
		newCertCreateIdentityCmd(auth.RoleOperator, "a person or tool running operator commands (drills, reconciliations)"),
		newCertCreateIdentityCmd(auth.RoleClient, "an API client of the routers"),
		newCertListCmd(),
	)
	return cmd
}

// certFlags are the flags the create-* commands share.
type certFlags struct {
	certsDir, caKeyDir string
	validity           time.Duration
	overwrite          bool
}

func (f *certFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.certsDir, "certs-dir", "", "the certs directory (required): holds ca.crt and receives "+what)
	cmd.Flags().StringVar(&f.caKeyDir, "ca-key-dir", "", "the directory of ca.key (default: the certs directory)")
	cmd.Flags().DurationVar(&f.validity, "validity", certValidityDefault, "how long the certificate is valid (at most "+auth.ValidityMax.String()+")")
}

// check reports every missing or bad shared flag at once (usage errors).
func (f *certFlags) check(cmd *cobra.Command, more ...error) error {
	errs := more
	if f.certsDir == "" {
		errs = append(errs, errors.New("--certs-dir is required"))
	}
	if f.validity <= 0 || f.validity > auth.ValidityMax {
		errs = append(errs, fmt.Errorf("--validity %s is not in (0, %s]", f.validity, auth.ValidityMax))
	}
	if len(errs) > 0 {
		return usageError(cmd, errors.Join(errs...))
	}
	return nil
}

func newCertCreateCACmd() *cobra.Command {
	var f certFlags
	cmd := &cobra.Command{
		Use:   "create-ca --certs-dir DIR [--ca-key-dir DIR] [--validity 8760h]",
		Short: "Create the certificate authority (never overwrites one)",
		Long: `Create-ca writes a new CA: ca.crt in the certs directory and ca.key in the CA
key directory. It refuses when either exists: replacing a CA would cut every
process off from every other.`,
		Example: `  cellpay cert create-ca --certs-dir certs
  cellpay cert create-ca --certs-dir certs --ca-key-dir /secure/ca --validity 87600h`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			ca, err := auth.CreateCA(f.certsDir, f.caKeyDir, f.validity)
			if err != nil {
				return certError(cmd, err)
			}
			keyDir := f.caKeyDir
			if keyDir == "" {
				keyDir = f.certsDir
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (serial %s, expires %s)\n",
				filepath.Join(f.certsDir, auth.CACertFile), filepath.Join(keyDir, auth.CAKeyFile), certSerial(ca), certTime(ca.NotAfter))
			return nil
		},
	}
	f.add(cmd, "ca.crt")
	return cmd
}

func newCertCreateNodeCmd() *cobra.Command {
	var (
		f          certFlags
		configPath string
		extraHosts []string
	)
	cmd := &cobra.Command{
		Use:   "create-node NODE_ID --config TOPOLOGY --certs-dir DIR",
		Short: "Issue a node's certificate, for the addresses the topology gives it",
		Long: `Create-node issues the certificate of a node of the topology: its hosts
(SANs) are those of the node's raft_addr and client_addr, and of any --host.
A node that is not in the topology is refused.`,
		Example: `  cellpay cert create-node hz-a-1 --config deploy/topologies/minimal.yaml --certs-dir certs`,
		Args:    exactArgs("NODE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var more []error
			if configPath == "" {
				more = append(more, errors.New("--config is required"))
			}
			if err := f.check(cmd, more...); err != nil {
				return err
			}
			topo, err := topology.Load(configPath)
			if err != nil {
				return configError(err)
			}
			node, ok := topo.Node(args[0])
			if !ok {
				var ids []string
				for _, n := range topo.Nodes() {
					ids = append(ids, n.ID)
				}
				return usageError(cmd, fmt.Errorf("node %q is not in the topology %s (its nodes: %s)", args[0], configPath, strings.Join(ids, ", ")))
			}
			var hosts []string
			for _, addr := range []string{node.RaftAddr, node.ClientAddr} {
				host, _, err := net.SplitHostPort(addr)
				if err != nil { // the topology was validated: a programmer error
					return fmt.Errorf("node %s: address %q: %w", node.ID, addr, err)
				}
				hosts = append(hosts, host)
			}
			return issueCert(cmd, &f, auth.Identity{Role: auth.RoleNode, Name: node.ID}, append(hosts, extraHosts...))
		},
	}
	f.add(cmd, "the node's certificate and key")
	cmd.Flags().StringVar(&configPath, "config", "", "topology file (YAML) (required)")
	cmd.Flags().StringArrayVar(&extraHosts, "host", nil, "another IP address or DNS name peers dial the node by (repeatable)")
	cmd.Flags().BoolVar(&f.overwrite, "overwrite", false, "replace the node's certificate and key if they exist (rotation)")
	return cmd
}

func newCertCreateRouterCmd() *cobra.Command {
	var (
		f     certFlags
		hosts []string
	)
	cmd := &cobra.Command{
		Use:     "create-router ROUTER_ID --host H [--host H]... --certs-dir DIR",
		Short:   "Issue a router's certificate, for the hosts clients dial it by",
		Example: `  cellpay cert create-router router-hz --host 10.0.1.5 --host router-hz.example.com --certs-dir certs`,
		Args:    exactArgs("ROUTER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var more []error
			if len(hosts) == 0 {
				more = append(more, errors.New("--host is required: the IP addresses or DNS names clients dial the router by"))
			}
			if err := f.check(cmd, more...); err != nil {
				return err
			}
			return issueCert(cmd, &f, auth.Identity{Role: auth.RoleRouter, Name: args[0]}, hosts)
		},
	}
	f.add(cmd, "the router's certificate and key")
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "an IP address or DNS name clients dial the router by (repeatable; at least one)")
	cmd.Flags().BoolVar(&f.overwrite, "overwrite", false, "replace the router's certificate and key if they exist (rotation)")
	return cmd
}

// newCertCreateIdentityCmd: create-operator and create-client, whose
// certificates only dial and so have no hosts.
func newCertCreateIdentityCmd(role auth.Role, who string) *cobra.Command {
	var f certFlags
	cmd := &cobra.Command{
		Use:   "create-" + string(role) + " NAME --certs-dir DIR",
		Short: "Issue the certificate of " + who,
		Example: fmt.Sprintf("  cellpay cert create-%s %s --certs-dir certs", role,
			map[auth.Role]string{auth.RoleOperator: "alice", auth.RoleClient: "shop-1"}[role]),
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			return issueCert(cmd, &f, auth.Identity{Role: role, Name: args[0]}, nil)
		},
	}
	f.add(cmd, "the "+string(role)+"'s certificate and key")
	cmd.Flags().BoolVar(&f.overwrite, "overwrite", false, "replace the certificate and key if they exist (rotation)")
	return cmd
}

// issueCert issues id's certificate and says what it wrote.
func issueCert(cmd *cobra.Command, f *certFlags, id auth.Identity, hosts []string) error {
	if err := id.Validate(); err != nil {
		return usageError(cmd, err)
	}
	certPath := auth.CertPath(f.certsDir, id)
	if !f.overwrite {
		if _, err := os.Lstat(certPath); err == nil {
			return fmt.Errorf("%s exists: pass --overwrite to replace it (running processes pick the new one up on SIGHUP)", certPath)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	cert, err := auth.Issue(f.certsDir, f.caKeyDir, id, hosts, f.validity)
	if err != nil {
		return certError(cmd, err)
	}
	note := ""
	if requested := time.Now().Add(f.validity); cert.NotAfter.Before(requested.Add(-time.Minute)) {
		note = ", when the CA does: a certificate never outlives its CA"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s for %s (serial %s, expires %s%s)\n",
		certPath, auth.KeyPath(f.certsDir, id), id, certSerial(cert), certTime(cert.NotAfter), note)
	return nil
}

// certError gives the auth package's errors their exit codes: a bad
// request is a usage error; anything else a failure.
func certError(cmd *cobra.Command, err error) error {
	if errors.Is(err, auth.ErrInvalidCertRequest) {
		return usageError(cmd, err)
	}
	return err
}

func certTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// certSerial is a certificate's serial as cert list prints it.
func certSerial(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

func newCertListCmd() *cobra.Command {
	var (
		certsDir string
		format   outputFormat
	)
	cmd := &cobra.Command{
		Use:   "list --certs-dir DIR",
		Short: "List the certificates of a certs directory",
		Long: `List every certificate of a certs directory: its file, role and name, subject,
expiry and SANs, and its status: ok, or why a process would refuse it (not
signed by the directory's ca.crt, expired, no cellpay identity, an identity
that is not the one its file name says).`,
		Example: `  cellpay cert list --certs-dir certs
  cellpay cert list --certs-dir certs -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certsDir == "" {
				return usageError(cmd, errors.New("--certs-dir is required"))
			}
			infos, err := auth.List(certsDir)
			if err != nil {
				return err
			}
			report := certListReport{Dir: certsDir, Certificates: []certReport{}}
			for _, info := range infos {
				report.Certificates = append(report.Certificates, certReportOf(info))
			}
			if format == outputJSON {
				return writeJSON(cmd.OutOrStdout(), report)
			}
			return writeCertTable(cmd.OutOrStdout(), report)
		},
	}
	cmd.Flags().StringVar(&certsDir, "certs-dir", "", "the certs directory (required)")
	addOutputFlag(cmd, &format)
	return cmd
}

// certListReport is the -o json output of cert list.
type certListReport struct {
	Dir          string       `json:"dir"`
	Certificates []certReport `json:"certificates"`
}

type certReport struct {
	File        string    `json:"file"`
	Role        string    `json:"role"` // "ca" for a CA, "" if it has no identity
	Name        string    `json:"name,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	IPAddresses []string  `json:"ip_addresses,omitempty"`
	URIs        []string  `json:"uris,omitempty"`
	Problem     string    `json:"problem,omitempty"`
}

func certReportOf(info auth.CertInfo) certReport {
	r := certReport{
		File: info.File, Role: string(info.Identity.Role), Name: info.Identity.Name, Subject: info.Subject,
		Serial: info.Serial, NotBefore: info.NotBefore.UTC(), NotAfter: info.NotAfter.UTC(),
		DNSNames: info.DNSNames, IPAddresses: info.IPAddresses, URIs: info.URIs, Problem: info.Problem,
	}
	if info.IsCA {
		r.Role = "ca"
	}
	return r
}

func writeCertTable(w io.Writer, r certListReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FILE\tROLE\tNAME\tSUBJECT\tEXPIRES\tSANS\tSTATUS\n")
	problems := 0
	for _, c := range r.Certificates {
		sans := slices.Concat(c.IPAddresses, c.DNSNames, c.URIs)
		expires := "-"
		if !c.NotAfter.IsZero() {
			expires = certTime(c.NotAfter)
		}
		status := "ok"
		if c.Problem != "" {
			status = c.Problem
			problems++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.File, dash(c.Role), dash(c.Name), dash(c.Subject),
			expires, dash(strings.Join(sans, ",")), status)
	}
	fmt.Fprintf(tw, "\n%d certificate%s in %s", len(r.Certificates), plural(len(r.Certificates)), r.Dir)
	if problems > 0 {
		fmt.Fprintf(tw, ", %d with problems", problems)
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}
