package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// tlsTestTimeout bounds every handshake and wait of these tests.
const tlsTestTimeout = 10 * time.Second

// handshake is what the test server saw of one connection.
type handshake struct {
	state tls.ConnectionState
	err   error
}

// startTLSServer serves cfg on a 127.0.0.1 listener until the test ends:
// each connection is handshaken, reported on the channel and, if the
// handshake passed, answered with "ok".
func startTLSServer(t *testing.T, cfg *tls.Config) (string, <-chan handshake) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan handshake, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				c := conn.(*tls.Conn)
				_ = c.SetDeadline(time.Now().Add(tlsTestTimeout))
				err := c.Handshake()
				results <- handshake{c.ConnectionState(), err}
				if err == nil {
					_, _ = c.Write([]byte("ok"))
				}
			})
		}
	})
	return ln.Addr().String(), results
}

// dialTLS connects with cfg and reads the server's "ok": in TLS 1.3 a
// server's refusal of the client certificate shows only there.
func dialTLS(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: tlsTestTimeout}, Config: cfg}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(tlsTestTimeout))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.(*tls.Conn).ConnectionState(), nil
}

func nextHandshake(t *testing.T, results <-chan handshake) handshake {
	t.Helper()
	select {
	case h := <-results:
		return h
	case <-time.After(tlsTestTimeout):
		t.Fatal("the server saw no connection")
		return handshake{}
	}
}

func mustReloader(t *testing.T, dir string, id Identity) *Reloader {
	t.Helper()
	r, err := NewReloader(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustServerTLS(t *testing.T, r *Reloader) *tls.Config {
	t.Helper()
	cfg, err := r.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func peerIdentity(t *testing.T, certs []*x509.Certificate) Identity {
	t.Helper()
	if len(certs) == 0 {
		t.Fatal("no peer certificate")
	}
	id, err := IdentityOf(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMutualTLS(t *testing.T) {
	dir := testCA(t)
	for _, id := range []Identity{testNode, testRouter, testOperator, testClient} {
		testIssue(t, dir, id)
	}
	serverCfg, err := ServerTLS(dir, testNode)
	if err != nil {
		t.Fatal(err)
	}
	if serverCfg.MinVersion != tls.VersionTLS13 || serverCfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("server: MinVersion %x, ClientAuth %v", serverCfg.MinVersion, serverCfg.ClientAuth)
	}
	addr, results := startTLSServer(t, serverCfg)
	for _, client := range []Identity{testRouter, testNode, testOperator, testClient} {
		clientCfg, err := ClientTLS(dir, client)
		if err != nil {
			t.Fatal(err)
		}
		state, err := dialTLS(addr, clientCfg)
		if err != nil {
			t.Fatalf("%s dials: %v", client, err)
		}
		if got := peerIdentity(t, state.PeerCertificates); got != testNode {
			t.Errorf("%s sees the server as %s, want %s", client, got, testNode)
		}
		h := nextHandshake(t, results)
		if h.err != nil {
			t.Fatalf("server: %v", h.err)
		}
		if h.state.Version != tls.VersionTLS13 {
			t.Errorf("version %x, want TLS 1.3", h.state.Version)
		}
		// The Authorizer trusts only verified chains.
		if len(h.state.VerifiedChains) == 0 {
			t.Error("the server has no verified chain for the client")
		}
		if got := peerIdentity(t, h.state.PeerCertificates); got != client {
			t.Errorf("the server sees the client as %s, want %s", got, client)
		}
	}
}

// storeForeignPair puts id's certificate and key, issued by another CA,
// into dir beside dir's own ca.crt.
func storeForeignPair(t *testing.T, dir string, id Identity) {
	t.Helper()
	other := testCA(t)
	testIssue(t, other, id)
	copyFile(t, CertPath(other, id), CertPath(dir, id))
	copyFile(t, KeyPath(other, id), KeyPath(dir, id))
}

func TestServerRefusesClientOfAnotherCA(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	clientDir := t.TempDir()
	copyFile(t, filepath.Join(dir, CACertFile), filepath.Join(clientDir, CACertFile))
	storeForeignPair(t, clientDir, testRouter)
	if _, err := NewReloader(clientDir, testRouter); err == nil {
		t.Fatal("NewReloader accepted a certificate not signed by ca.crt")
	}

	// Handcrafted: a client showing the foreign certificate anyway.
	pair, err := tls.LoadX509KeyPair(CertPath(clientDir, testRouter), KeyPath(clientDir, testRouter))
	if err != nil {
		t.Fatal(err)
	}
	clientCfg := mustReloader(t, dir, testNode).ClientTLS()
	clientCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }

	for _, optional := range []bool{false, true} {
		r := mustReloader(t, dir, testNode)
		serverCfg := mustServerTLS(t, r)
		if optional {
			if serverCfg, err = r.ServerTLSClientCertOptional(); err != nil {
				t.Fatal(err)
			}
		}
		addr, results := startTLSServer(t, serverCfg)
		if _, err := dialTLS(addr, clientCfg); err == nil {
			t.Errorf("optional %v: a client of another CA was served", optional)
		}
		if h := nextHandshake(t, results); h.err == nil {
			t.Errorf("optional %v: the server's handshake passed", optional)
		}
	}
}

func TestClientCertificateRequiredOrOptional(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	r := mustReloader(t, dir, testNode)
	anonymous := r.ClientTLS()
	anonymous.GetClientCertificate = nil

	addr, results := startTLSServer(t, mustServerTLS(t, r))
	if _, err := dialTLS(addr, anonymous); err == nil {
		t.Error("a client without a certificate was served by ServerTLS")
	}
	nextHandshake(t, results)

	optional, err := r.ServerTLSClientCertOptional()
	if err != nil {
		t.Fatal(err)
	}
	addr, results = startTLSServer(t, optional)
	if _, err := dialTLS(addr, anonymous); err != nil {
		t.Errorf("ServerTLSClientCertOptional refused a client without a certificate: %v", err)
	}
	if h := nextHandshake(t, results); h.err != nil || len(h.state.PeerCertificates) != 0 {
		t.Errorf("server: %v, %d peer certificates", h.err, len(h.state.PeerCertificates))
	}
}

func TestClientRefusesServerOfAnotherCAOrRole(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testRouter)
	testIssue(t, dir, testOperator)
	clientCfg := mustReloader(t, dir, testRouter).ClientTLS()

	serverDir := t.TempDir()
	copyFile(t, filepath.Join(dir, CACertFile), filepath.Join(serverDir, CACertFile))
	storeForeignPair(t, serverDir, testNode)
	foreign, err := tls.LoadX509KeyPair(CertPath(serverDir, testNode), KeyPath(serverDir, testNode))
	if err != nil {
		t.Fatal(err)
	}
	// An operator's certificate, of the right CA, but not one that serves.
	operator, err := tls.LoadX509KeyPair(CertPath(dir, testOperator), KeyPath(dir, testOperator))
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string]tls.Certificate{"another CA": foreign, "an operator": operator} {
		serverCfg := mustServerTLS(t, mustReloader(t, dir, testRouter))
		serverCfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }
		addr, results := startTLSServer(t, serverCfg)
		if _, err := dialTLS(addr, clientCfg); err == nil || !strings.Contains(err.Error(), "auth: ") {
			t.Errorf("a server with a certificate of %s: %v, want refused by auth", name, err)
		}
		nextHandshake(t, results)
	}
}

func TestNewReloaderRefusesWrongFiles(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testRouter)
	testIssue(t, dir, testOperator)
	if _, err := mustReloader(t, dir, testOperator).ServerTLS(); err == nil {
		t.Error("an operator got a server configuration")
	}
	// The router's pair under the node's names: someone else's certificate.
	copyFile(t, CertPath(dir, testRouter), CertPath(dir, testNode))
	copyFile(t, KeyPath(dir, testRouter), KeyPath(dir, testNode))
	if _, err := NewReloader(dir, testNode); err == nil || !strings.Contains(err.Error(), "names router/router-hz") {
		t.Errorf("NewReloader with another identity's certificate: %v", err)
	}
	if _, err := NewReloader(dir, testClient); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
		t.Errorf("NewReloader without files: %v", err)
	}
	if _, err := NewReloader(dir, Identity{Role: RoleNode, Name: "../x"}); err == nil {
		t.Error("NewReloader accepted an invalid identity")
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(KeyPath(dir, testRouter), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := NewReloader(dir, testRouter); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("NewReloader with a world-readable key: %v", err)
		}
	}
}

func TestReloadRotatesWithoutRestart(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	testIssue(t, dir, testRouter)
	server := mustReloader(t, dir, testNode)
	client := mustReloader(t, dir, testRouter)
	addr, results := startTLSServer(t, mustServerTLS(t, server))
	clientCfg := client.ClientTLS()

	check := func(step string, serverSerial, clientSerial string) {
		t.Helper()
		state, err := dialTLS(addr, clientCfg)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		h := nextHandshake(t, results)
		if got := serialHex(state.PeerCertificates[0]); got != serverSerial {
			t.Errorf("%s: the server showed serial %s, want %s", step, got, serverSerial)
		}
		if got := serialHex(h.state.PeerCertificates[0]); got != clientSerial {
			t.Errorf("%s: the client showed serial %s, want %s", step, got, clientSerial)
		}
	}
	oldServer, oldClient := serialHex(server.Certificate()), serialHex(client.Certificate())
	check("before", oldServer, oldClient)

	// Issued, not yet reloaded: still the old ones.
	newServer := serialHex(testIssue(t, dir, testNode))
	newClient := serialHex(testIssue(t, dir, testRouter))
	check("issued", oldServer, oldClient)

	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := client.Reload(); err != nil {
		t.Fatal(err)
	}
	check("reloaded", newServer, newClient)
	if serialHex(server.Certificate()) != newServer {
		t.Error("Certificate() is not the reloaded one")
	}
}

func TestFailedReloadKeepsTheOldCertificate(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	testIssue(t, dir, testRouter)
	server := mustReloader(t, dir, testNode)
	serial := serialHex(server.Certificate())
	addr, results := startTLSServer(t, mustServerTLS(t, server))
	clientCfg := mustReloader(t, dir, testRouter).ClientTLS()

	keyPEM, err := os.ReadFile(KeyPath(dir, testRouter))
	if err != nil {
		t.Fatal(err)
	}
	// In order: each step but the last leaves ca.crt intact for the next.
	for _, step := range []struct {
		name    string
		corrupt func() error
	}{
		{"a corrupt certificate", func() error { return os.WriteFile(CertPath(dir, testNode), []byte("garbage"), 0o644) }},
		{"a key that does not match", func() error {
			testIssue(t, dir, testNode)
			return os.WriteFile(KeyPath(dir, testNode), keyPEM, 0o600)
		}},
		{"a corrupt ca.crt", func() error {
			testIssue(t, dir, testNode)
			return os.WriteFile(filepath.Join(dir, CACertFile), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
		}},
	} {
		name, corrupt := step.name, step.corrupt
		if err := corrupt(); err != nil {
			t.Fatal(err)
		}
		if err := server.Reload(); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: Reload: %v, want an auth: error", name, err)
		}
		state, err := dialTLS(addr, clientCfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nextHandshake(t, results)
		if got := serialHex(state.PeerCertificates[0]); got != serial {
			t.Errorf("%s: serial %s, want the old %s", name, got, serial)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger written from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForCert polls cond until it holds or tlsTestTimeout passes.
func waitForCert(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(tlsTestTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", tlsTestTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReloadOnSignal(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	r := mustReloader(t, dir, testNode)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { watchReloads(ctx, logger, signals, []*Reloader{r}); close(done) }()
	defer func() { cancel(); <-done }()

	want := serialHex(testIssue(t, dir, testNode))
	signals <- syscall.SIGHUP
	waitForCert(t, "the reload", func() bool { return strings.Contains(logs.String(), "certificates reloaded") })
	if got := serialHex(r.Certificate()); got != want || !strings.Contains(logs.String(), "serial="+want) {
		t.Errorf("serial %s, want %s; logs:\n%s", got, want, logs.String())
	}

	if err := os.WriteFile(CertPath(dir, testNode), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	signals <- syscall.SIGHUP
	waitForCert(t, "the failed reload", func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	if got := serialHex(r.Certificate()); got != want || !strings.Contains(logs.String(), "reload failed") {
		t.Errorf("after a failed reload: serial %s, want %s; logs:\n%s", got, want, logs.String())
	}
}

func TestWatchSIGHUP(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows")
	}
	dir := testCA(t)
	testIssue(t, dir, testNode)
	testIssue(t, dir, testRouter)
	node, router := mustReloader(t, dir, testNode), mustReloader(t, dir, testRouter)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	WatchSIGHUP(ctx, slog.New(slog.DiscardHandler), node, router)

	wantNode, wantRouter := serialHex(testIssue(t, dir, testNode)), serialHex(testIssue(t, dir, testRouter))
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForCert(t, "both reloads", func() bool {
		return serialHex(node.Certificate()) == wantNode && serialHex(router.Certificate()) == wantRouter
	})
}

// The Authorizer's PeerIdentity finds the identity in a gRPC call over
// these configurations (ALPN h2 included).
func TestGRPCPeerIdentity(t *testing.T) {
	dir := testCA(t)
	testIssue(t, dir, testNode)
	testIssue(t, dir, testOperator)
	serverCfg, err := ServerTLS(dir, testNode)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Identity, 1)
	authz := &Authorizer{Surface: "test"}
	server := grpc.NewServer(append(authz.ServerOptions(),
		grpc.Creds(credentials.NewTLS(serverCfg)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			id, _ := PeerIdentity(ctx)
			seen <- id
			return h(ctx, req)
		}))...)
	healthpb.RegisterHealthServer(server, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(ln) }()
	defer server.Stop()

	clientCfg, err := ClientTLS(dir, testOperator)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(clientCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), tlsTestTimeout)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != testOperator {
		t.Errorf("PeerIdentity = %v, want %v", got, testOperator)
	}
}
