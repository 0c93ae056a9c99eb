package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Security is one process's side of the trust boundaries: its identity,
// the TLS of its listeners and dialers, and the Authorizer of each of its
// surfaces. Secure loads it from a certs directory; Insecure is what
// --insecure asks for (no TLS, no identities, every call let through).
type Security struct {
	insecure bool
	reloader *Reloader
	logger   *slog.Logger
	refused  func(Refusal)

	server, httpServer, client *tls.Config
}

// Secure loads self's certificate and the CA from dir. Every refusal of
// its authorizers is logged to logger and counted in reg (nil: not
// counted). Only nodes and routers get server configurations.
func Secure(dir string, self Identity, logger *slog.Logger, reg prometheus.Registerer) (*Security, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, err := NewReloader(dir, self)
	if err != nil {
		return nil, err
	}
	refused, err := RefusalCounter(reg)
	if err != nil {
		return nil, err
	}
	s := &Security{reloader: r, logger: logger, refused: refused, client: r.ClientTLS()}
	if certServes(self.Role) {
		if s.server, err = r.ServerTLS(); err != nil {
			return nil, err
		}
		if s.httpServer, err = r.ServerTLSClientCertOptional(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Insecure is the Security of a process run with --insecure: plain TCP,
// and authorizers that let every call through. Never in production.
func Insecure(logger *slog.Logger) *Security {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Security{insecure: true, logger: logger, refused: func(Refusal) {}}
}

// IsInsecure reports whether s is Insecure.
func (s *Security) IsInsecure() bool { return s.insecure }

// Identity is the process's own identity (zero when insecure).
func (s *Security) Identity() Identity {
	if s.insecure {
		return Identity{}
	}
	return s.reloader.Identity()
}

// ServerTLS is the configuration of a gRPC listener (client certificates
// required); nil when insecure or for a role that does not serve.
func (s *Security) ServerTLS() *tls.Config { return s.server }

// HTTPServerTLS is the configuration of an HTTP listener where client
// certificates are optional (the handler decides); nil as ServerTLS.
func (s *Security) HTTPServerTLS() *tls.Config { return s.httpServer }

// ClientTLS is the configuration of a dialer; nil when insecure.
func (s *Security) ClientTLS() *tls.Config { return s.client }

// DialCredentials are the gRPC transport credentials of a dialer.
func (s *Security) DialCredentials() grpc.DialOption {
	return grpc.WithTransportCredentials(Credentials(s.client))
}

// Credentials are the gRPC transport credentials of a dialer with tlsCfg:
// TLS, or plain TCP when tlsCfg is nil (--insecure).
func Credentials(tlsCfg *tls.Config) credentials.TransportCredentials {
	if tlsCfg == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(tlsCfg)
}

// Authorizer enforces Methods on the surface named (e.g. "node-grpc"),
// logging and counting its refusals.
func (s *Security) Authorizer(surface string) *Authorizer {
	return &Authorizer{Surface: surface, Insecure: s.insecure, Logger: s.logger, Refused: s.refused}
}

// Reload re-reads the certificate and the CA (rotation): new connections
// use them; on error the old ones stay.
func (s *Security) Reload() error {
	if s.insecure {
		return errors.New("auth: an insecure process has no certificates to reload")
	}
	return s.reloader.Reload()
}

// WatchSIGHUP reloads on every SIGHUP until ctx ends (see WatchSIGHUP).
func (s *Security) WatchSIGHUP(ctx context.Context) {
	if s.insecure {
		return
	}
	WatchSIGHUP(ctx, s.logger, s.reloader)
}
