package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/demo"
	"github.com/cellpay/cellpay/router/gossip"
)

// securityFlags are the trust flags every process and tool takes: the
// certs directory (`cellpay cert` writes it), the name of the certificate
// to use, and --insecure, which must be asked for and is refused in
// production.
type securityFlags struct {
	certsDir, certName, gossipKeyFile string
	insecure                          bool
}

// Environment defaults of --certs-dir and --gossip-key-file (a flag given
// wins), so that one shell's tools need not repeat them.
const (
	certsDirEnv      = demo.CertsDirEnv
	gossipKeyFileEnv = "CELLPAY_GOSSIP_KEY_FILE"
)

// addSecurityFlags adds --certs-dir, --insecure and, for a tool (role
// operator or client), --cert-name; gossip adds --gossip-key-file.
func addSecurityFlags(cmd *cobra.Command, o *securityFlags, tool, gossipKeys bool) {
	f := cmd.Flags()
	f.StringVar(&o.certsDir, "certs-dir", "", "directory of the CA certificate and this process's certificate and key (cellpay cert; default $"+certsDirEnv+"); required unless --insecure")
	f.BoolVar(&o.insecure, "insecure", false, "plain TCP without certificates, for a quick look on one machine (refused for a prod topology)")
	if tool {
		f.StringVar(&o.certName, "cert-name", "", "the operator (or client) certificate to use: operator-NAME.crt in --certs-dir (default: the only operator certificate there)")
	}
	if gossipKeys {
		f.StringVar(&o.gossipKeyFile, "gossip-key-file", "", "file of base64 gossip keys, one per line, the first encrypting (mode 0600; default $"+gossipKeyFileEnv+"); required unless --insecure")
	}
}

// load is the process's Security as identity (role, name); a tool's name
// comes from --cert-name or the only certificate of its role in the dir.
// Without --certs-dir it refuses to start unless --insecure was given, and
// --insecure is refused for a prod topology or --env prod (exit 3).
func (o *securityFlags) load(cmd *cobra.Command, topo *topology.Topology, env string, role auth.Role, name string, logger *slog.Logger, reg prometheus.Registerer) (*auth.Security, error) {
	if !cmd.Flags().Changed("certs-dir") && !o.insecure {
		o.certsDir = os.Getenv(certsDirEnv)
	}
	if f := cmd.Flags().Lookup("gossip-key-file"); f != nil && !f.Changed && !o.insecure {
		o.gossipKeyFile = os.Getenv(gossipKeyFileEnv)
	}
	if o.insecure {
		if env == "prod" || (topo != nil && topo.Environment() == "prod") {
			return nil, &exitError{code: exitInvalidConfig, err: errors.New("--insecure is refused in production (--env prod or a prod topology): give --certs-dir")}
		}
		if o.certsDir != "" {
			return nil, usageError(cmd, errors.New("--insecure and --certs-dir exclude each other"))
		}
		if logger != nil {
			logger.Warn("running insecure: no TLS, no identities, every call let through (--insecure)")
		}
		return auth.Insecure(logger), nil
	}
	if o.certsDir == "" {
		return nil, &exitError{code: exitInvalidConfig, err: errors.New("no --certs-dir: every listener and dialer needs a certificate (cellpay cert create-ca, create-node, ...); --insecure runs without, for a quick look")}
	}
	if name == "" {
		var err error
		if name, err = o.toolName(role); err != nil {
			return nil, err
		}
	}
	sec, err := auth.Secure(o.certsDir, auth.Identity{Role: role, Name: name}, logger, reg)
	if err != nil {
		return nil, &exitError{code: exitInvalidConfig, err: err}
	}
	return sec, nil
}

// toolName is --cert-name, or the name of the only certificate of role in
// the certs directory.
func (o *securityFlags) toolName(role auth.Role) (string, error) {
	if o.certName != "" {
		return o.certName, nil
	}
	return o.toolNameOf(role)
}

// toolNameOf is the name of the only certificate of role in the certs
// directory (--cert-name names the operator's).
func (o *securityFlags) toolNameOf(role auth.Role) (string, error) {
	infos, err := auth.List(o.certsDir)
	if err != nil {
		return "", &exitError{code: exitInvalidConfig, err: err}
	}
	var names []string
	for _, c := range infos {
		if !c.IsCA && c.Identity.Role == role {
			names = append(names, c.Identity.Name)
		}
	}
	if len(names) != 1 {
		return "", &exitError{code: exitInvalidConfig, err: fmt.Errorf("--certs-dir %s holds %d %s certificates (%v): name one with --cert-name", o.certsDir, len(names), role, names)}
	}
	return names[0], nil
}

// gossipKeys reads --gossip-key-file; without it, none (refused unless
// insecure).
func (o *securityFlags) gossipKeys() ([][]byte, error) {
	if o.gossipKeyFile == "" {
		if o.insecure {
			return nil, nil
		}
		return nil, &exitError{code: exitInvalidConfig, err: errors.New("no --gossip-key-file: gossip is encrypted unless --insecure (a file with one base64 key of 16, 24 or 32 bytes per line, mode 0600)")}
	}
	keys, err := gossip.LoadKeyFile(o.gossipKeyFile)
	if err != nil {
		return nil, &exitError{code: exitInvalidConfig, err: err}
	}
	return keys, nil
}
