package auth

// Mutual-TLS configurations from a certs directory (certs.go), for a
// process of one identity, with rotation without restart.
//
// Every configuration is TLS 1.3 only and takes the process's certificate
// and the CA pool from a Reloader at each handshake (GetCertificate,
// GetClientCertificate, VerifyConnection), so a Reload takes effect for new
// connections; established connections keep what they were made with.
//
// Servers require (or, for HTTP surfaces, accept) client certificates
// verified by the standard library against the CA (ClientAuth
// RequireAndVerifyClientCert: the Authorizer trusts only verified chains),
// then VerifyConnection verifies the chain again against the current pool
// and requires a cellpay:// identity. Because the standard library's pass
// uses the pool of ClientCAs, fixed when the configuration is made, a CA
// *added* to ca.crt is trusted for client certificates only by
// configurations made after the Reload, while a CA *removed* is distrusted
// by every configuration at the Reload. To rotate a CA: append the new CA
// to every ca.crt and restart (or rebuild the servers' configurations),
// reissue every certificate from it and Reload, then drop the old CA and
// Reload.
//
// Clients verify the server's chain against the current pool and require a
// node or router identity, in VerifyConnection. They do not check the host
// name: servers are dialed by the IP:port of the topology (or through the
// chaos proxy, at another address), and who they are is their identity,
// not their address. The standard library's own check, which would insist
// on the address, is therefore off (InsecureSkipVerify), and replaced, not
// skipped.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reloader holds a process's certificate and key and the CA pool, read
// from a certs directory: CertPath(dir, self), KeyPath(dir, self) and
// dir/ca.crt. The configurations it makes read the current ones at every
// handshake. Make one with NewReloader; safe for concurrent use.
type Reloader struct {
	dir  string
	self Identity
	// reloadMu serializes Reload: two concurrent reloads would otherwise
	// race to store, and the older files could win.
	reloadMu sync.Mutex
	current  atomic.Pointer[tlsMaterial]
}

// tlsMaterial is one consistent reading of the files; never modified.
type tlsMaterial struct {
	cert  *tls.Certificate // with Leaf set
	roots *x509.CertPool
}

// NewReloader reads the certificate of self (which must name self, chain to
// ca.crt and be valid now) from the certs directory dir.
func NewReloader(dir string, self Identity) (*Reloader, error) {
	if err := self.Validate(); err != nil {
		return nil, err
	}
	r := &Reloader{dir: dir, self: self}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On success new handshakes use them; on any
// error (a file missing, corrupt or half-replaced, a certificate for
// another identity, not signed by the CA, expired) the ones in use stay and
// the error says why.
func (r *Reloader) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	m, err := loadTLSMaterial(r.dir, r.self, time.Now())
	if err != nil {
		return err
	}
	r.current.Store(m)
	return nil
}

// Identity is the identity the Reloader serves.
func (r *Reloader) Identity() Identity { return r.self }

// Dir is the certs directory it reads.
func (r *Reloader) Dir() string { return r.dir }

// Certificate is the certificate in use (for logs and checks: its serial,
// its expiry). Never modify it.
func (r *Reloader) Certificate() *x509.Certificate { return r.current.Load().cert.Leaf }

func loadTLSMaterial(dir string, self Identity, now time.Time) (*tlsMaterial, error) {
	roots, _, err := loadCAPool(dir)
	if err != nil {
		return nil, err
	}
	certPath, keyPath := CertPath(dir, self), KeyPath(dir, self)
	certPEM, err := readCertFile(certPath, false)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readCertFile(keyPath, true)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("auth: %s and %s: %w", certPath, keyPath, err)
	}
	leaf := pair.Leaf // set by X509KeyPair
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", certPath, err)
		}
		pair.Leaf = leaf
	}
	id, err := IdentityOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", certPath, err)
	}
	if id != self {
		// A process must not start as someone else (a file copied to the
		// wrong machine).
		return nil, fmt.Errorf("auth: %s names %s, but this process is %s", certPath, id, self)
	}
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if certServes(self.Role) {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	for _, usage := range usages {
		// One Verify per usage: a chain passes Verify if it allows any of
		// the listed usages, and a node needs both.
		if err := verifyChain(pair.Certificate, roots, usage, now); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", certPath, err)
		}
	}
	return &tlsMaterial{cert: &pair, roots: roots}, nil
}

// verifyChain verifies a DER chain (leaf first) against roots for usage.
func verifyChain(chain [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	return verifyCerts(certs, roots, usage, now)
}

func verifyCerts(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}

// ServerTLS is the configuration of a server that requires every client to
// show a certificate of this CA with a cellpay:// identity (gRPC
// servers: the Authorizer then checks the role per method). Only nodes and
// routers serve.
func (r *Reloader) ServerTLS() (*tls.Config, error) {
	return r.serverTLS(tls.RequireAndVerifyClientCert)
}

// ServerTLSClientCertOptional is ServerTLS for HTTP surfaces where a client
// may show no certificate (the Authorizer's HTTP wrapper then answers 401
// where one is needed); a certificate shown is verified all the same.
func (r *Reloader) ServerTLSClientCertOptional() (*tls.Config, error) {
	return r.serverTLS(tls.VerifyClientCertIfGiven)
}

func (r *Reloader) serverTLS(clientAuth tls.ClientAuthType) (*tls.Config, error) {
	if !certServes(r.self.Role) {
		return nil, fmt.Errorf("auth: a %s does not serve: only nodes and routers have server certificates", r.self.Role)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: clientAuth,
		// The pool as of now: see the comment at the top of the file.
		ClientCAs: r.current.Load().roots,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.current.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				if clientAuth == tls.RequireAndVerifyClientCert {
					return errors.New("auth: the client showed no certificate")
				}
				return nil
			}
			_, err := r.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
			return err
		},
	}, nil
}

// ClientTLS is the configuration of a dialer: it shows the process's
// certificate and accepts only servers with a certificate of this CA naming
// a node or a router.
func (r *Reloader) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Replaced by VerifyConnection, not skipped: see the comment at the
		// top of the file.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.current.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := r.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if !certServes(id.Role) {
				return fmt.Errorf("auth: the server is %s: only nodes and routers serve", id)
			}
			return nil
		},
	}
}

// verifyPeer verifies a peer's chain against the current pool and returns
// the identity in it. It runs on resumed connections too.
func (r *Reloader) verifyPeer(certs []*x509.Certificate, usage x509.ExtKeyUsage) (Identity, error) {
	if len(certs) == 0 {
		return Identity{}, errors.New("auth: the peer showed no certificate")
	}
	if err := verifyCerts(certs, r.current.Load().roots, usage, time.Now()); err != nil {
		return Identity{}, fmt.Errorf("auth: the peer's certificate %q: %w", certs[0].Subject, err)
	}
	return IdentityOf(certs[0])
}

// ServerTLS is Reloader.ServerTLS of a Reloader nobody reloads; use
// NewReloader for rotation.
func ServerTLS(dir string, self Identity) (*tls.Config, error) {
	r, err := NewReloader(dir, self)
	if err != nil {
		return nil, err
	}
	return r.ServerTLS()
}

// ServerTLSClientCertOptional is Reloader.ServerTLSClientCertOptional of a
// Reloader nobody reloads; use NewReloader for rotation.
func ServerTLSClientCertOptional(dir string, self Identity) (*tls.Config, error) {
	r, err := NewReloader(dir, self)
	if err != nil {
		return nil, err
	}
	return r.ServerTLSClientCertOptional()
}

// ClientTLS is Reloader.ClientTLS of a Reloader nobody reloads; use
// NewReloader for rotation.
func ClientTLS(dir string, self Identity) (*tls.Config, error) {
	r, err := NewReloader(dir, self)
	if err != nil {
		return nil, err
	}
	return r.ClientTLS(), nil
}

// WatchSIGHUP reloads every reloader on each SIGHUP until ctx is done, and
// logs each outcome (a failure keeps the old certificates and is logged as
// an error). It starts listening before it returns, so that a SIGHUP right
// after is not lost (nor, by default, fatal), and does the rest in its own
// goroutine. SIGHUPs that arrive during a reload are coalesced into one more.
func WatchSIGHUP(ctx context.Context, logger *slog.Logger, reloaders ...*Reloader) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP)
	go func() {
		defer signal.Stop(signals)
		watchReloads(ctx, logger, signals, reloaders)
	}()
}

func watchReloads(ctx context.Context, logger *slog.Logger, signals <-chan os.Signal, reloaders []*Reloader) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			for _, r := range reloaders {
				reloadAndLog(logger, r)
			}
		}
	}
}

func reloadAndLog(logger *slog.Logger, r *Reloader) {
	err := r.Reload()
	cert := r.Certificate()
	attrs := []any{"identity", r.self.String(), "dir", filepath.Clean(r.dir),
		"serial", hex.EncodeToString(cert.SerialNumber.Bytes()), "not_after", cert.NotAfter.UTC().Format(time.RFC3339)}
	if err != nil {
		logger.Error("auth: certificate reload failed; serving the old certificate", append(attrs, "err", err)...)
		return
	}
	logger.Info("auth: certificates reloaded", attrs...)
}
