package auth

// The certificate authority on disk, laid out as CockroachDB and etcd
// operators know it. A certs directory holds:
//
//	ca.crt                  the CA certificate(s) every process trusts
//	<role>-<name>.crt/.key  one pair per identity, e.g. node-hz-a-1.crt
//
// and the CA's key, ca.key, lives in the CA key directory: the certs
// directory itself unless the operator keeps the key elsewhere (caKeyDir
// "" means the certs directory). Only Issue needs the CA key; processes
// need only ca.crt and their own pair.
//
// Keys are ECDSA P-256, PKCS#8, mode 0600; certificates are mode 0644.
// Every file is written to a temporary file in its directory (created 0600)
// and then linked (CreateCA: never overwrites) or renamed (Issue: replaces,
// for rotation) into place, so that no reader ever sees half a file.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File names in a certs directory (and, for the key, the CA key directory).
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Limits.
const (
	// ValidityMax bounds the validity of a CA or an issued certificate:
	// ten years; rotation is the answer to longer.
	ValidityMax = 10 * 8760 * time.Hour
	// HostsMax bounds the hosts (SANs) of one certificate.
	HostsMax = 64
	// hostBytesMax is the longest DNS name (RFC 1035).
	hostBytesMax = 253
	// certFileBytesMax bounds a certificate or key file we read: a CA
	// bundle of a few certificates is a few KiB.
	certFileBytesMax = 1 << 20
	// certFilesMax bounds the certificates List reads from one directory.
	certFilesMax = 10_000
	// notBeforeBackdate is subtracted from the start of validity so that a
	// peer whose clock is a little behind accepts a new certificate.
	notBeforeBackdate = time.Hour
)

// Error marks, for errors.Is.
var (
	// ErrCAExists: CreateCA found a CA certificate or key in place.
	ErrCAExists = errors.New("auth: a CA already exists")
	// ErrInvalidCertRequest: bad input to CreateCA or Issue (an identity,
	// a host, a validity); the message names it.
	ErrInvalidCertRequest = errors.New("auth: invalid certificate request")
)

// CertPath is the certificate file of id in the certs directory dir.
func CertPath(dir string, id Identity) string {
	return filepath.Join(dir, string(id.Role)+"-"+id.Name+".crt")
}

// KeyPath is the key file of id in the certs directory dir.
func KeyPath(dir string, id Identity) string {
	return filepath.Join(dir, string(id.Role)+"-"+id.Name+".key")
}

// caKeyDirOr is the directory of ca.key: caKeyDir, or certsDir if empty.
func caKeyDirOr(certsDir, caKeyDir string) string {
	if caKeyDir == "" {
		return certsDir
	}
	return caKeyDir
}

// CreateCA creates a CA valid for validity: its certificate in
// certsDir/ca.crt, its key in caKeyDir/ca.key (caKeyDir "" : certsDir).
// Missing directories are created with mode 0700. It refuses (ErrCAExists)
// when either file exists, and then changes nothing.
func CreateCA(certsDir, caKeyDir string, validity time.Duration) (*x509.Certificate, error) {
	if err := checkCertValidity(validity); err != nil {
		return nil, err
	}
	caKeyDir = caKeyDirOr(certsDir, caKeyDir)
	certPath, keyPath := filepath.Join(certsDir, CACertFile), filepath.Join(caKeyDir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%w: %s (a CA is never overwritten; move it away first)", ErrCAExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	for _, d := range []string{certsDir, caKeyDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generating the CA key: %w", err)
	}
	serial, err := certSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "cellpay CA", Organization: []string{"cellpay"}},
		NotBefore:             now.Add(-notBeforeBackdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Leaves only: nobody may run an intermediate CA under it.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("auth: creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	keyPEM, err := certKeyPEM(key)
	if err != nil {
		return nil, err
	}
	// The key first: a CA certificate without its key is of no use, and a
	// crash in between leaves ca.key alone, which CreateCA then refuses to
	// overwrite (the operator looks, rather than losing a key).
	if err := certWriteFile(keyPath, keyPEM, 0o600, false); err != nil {
		return nil, err
	}
	if err := certWriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, false); err != nil {
		_ = os.Remove(keyPath) // ours: written just now, never used
		return nil, err
	}
	return cert, nil
}

// Issue issues a certificate for id valid for validity (at most until the
// CA expires) and writes it with its new key to CertPath(certsDir, id) and
// KeyPath(certsDir, id), replacing any earlier pair (rotation: processes
// pick the new one up on Reloader.Reload). The CA is certsDir/ca.crt with
// its key in caKeyDir/ca.key (caKeyDir "": certsDir); when ca.crt holds
// several CAs (during a CA rotation) the one matching ca.key signs.
//
// The certificate names id as its URI SAN (cellpay://<role>/<name>) and as
// its subject (CN = name, OU = role). Nodes and routers serve and dial:
// they need at least one host (an IP address or DNS name, as peers dial
// them) and get server and client authentication; operators and clients
// only dial: no hosts, client authentication only.
func Issue(certsDir, caKeyDir string, id Identity, hosts []string, validity time.Duration) (*x509.Certificate, error) {
	if err := id.Validate(); err != nil {
		message := strings.TrimPrefix(err.Error(), "auth: ")
		if !strings.Contains(message, strconv.Quote(id.Name)) {
			message += fmt.Sprintf(" (name %q)", id.Name)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidCertRequest, message)
	}
	if err := checkCertValidity(validity); err != nil {
		return nil, err
	}
	ips, dnsNames, err := certHosts(id, hosts)
	if err != nil {
		return nil, err
	}
	caCert, caKey, err := loadCA(certsDir, caKeyDirOr(certsDir, caKeyDir))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !now.Before(caCert.NotAfter) {
		return nil, fmt.Errorf("auth: the CA in %s expired at %s", filepath.Join(certsDir, CACertFile), caCert.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		// A certificate cannot outlive the CA that vouches for it.
		notAfter = caCert.NotAfter
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generating the key of %s: %w", id, err)
	}
	serial, err := certSerial()
	if err != nil {
		return nil, err
	}
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if certServes(id.Role) {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         id.Name,
			OrganizationalUnit: []string{string(id.Role)},
			Organization:       []string{"cellpay"},
		},
		NotBefore:             now.Add(-notBeforeBackdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usages,
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URI()},
		IPAddresses:           ips,
		DNSNames:              dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("auth: issuing the certificate of %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if got, err := IdentityOf(cert); err != nil || got != id {
		// The identity parser and the issuer disagree: a programmer error.
		panic(fmt.Sprintf("auth: issued a certificate for %s that reads as %v (%v)", id, got, err))
	}
	keyPEM, err := certKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(certsDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// The key first, then the certificate: a Reload in between sees a pair
	// that does not match and keeps the old one until the next Reload.
	if err := certWriteFile(KeyPath(certsDir, id), keyPEM, 0o600, true); err != nil {
		return nil, err
	}
	if err := certWriteFile(CertPath(certsDir, id), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, true); err != nil {
		return nil, err
	}
	return cert, nil
}

// certServes reports whether a role serves (and so needs hosts and server
// authentication): nodes and routers.
func certServes(role Role) bool { return role == RoleNode || role == RoleRouter }

func checkCertValidity(validity time.Duration) error {
	if validity <= 0 || validity > ValidityMax {
		return fmt.Errorf("%w: validity %s is not in (0, %s]", ErrInvalidCertRequest, validity, ValidityMax)
	}
	return nil
}

// certHosts checks and splits the hosts of id's certificate into IP
// addresses and (lower-cased) DNS names, without duplicates.
func certHosts(id Identity, hosts []string) ([]net.IP, []string, error) {
	switch {
	case !certServes(id.Role) && len(hosts) > 0:
		return nil, nil, fmt.Errorf("%w: a %s certificate only dials and takes no hosts, got %q", ErrInvalidCertRequest, id.Role, hosts)
	case certServes(id.Role) && len(hosts) == 0:
		return nil, nil, fmt.Errorf("%w: a %s certificate needs at least one host (an IP address or DNS name peers dial it by)", ErrInvalidCertRequest, id.Role)
	case len(hosts) > HostsMax:
		return nil, nil, fmt.Errorf("%w: %d hosts, more than %d", ErrInvalidCertRequest, len(hosts), HostsMax)
	}
	var (
		ips      []net.IP
		dnsNames []string
		errs     []error
	)
	for _, h := range hosts {
		bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if ip := net.ParseIP(bare); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if err := checkDNSName(h); err != nil {
			errs = append(errs, fmt.Errorf("%w: host %q: %s", ErrInvalidCertRequest, h, err))
			continue
		}
		if name := strings.ToLower(h); !slices.Contains(dnsNames, name) {
			dnsNames = append(dnsNames, name)
		}
	}
	return ips, dnsNames, errors.Join(errs...)
}

// checkDNSName says what is wrong with a DNS name, if anything: labels of
// letters, digits and '-' (not at either end), at most 63 bytes each.
func checkDNSName(name string) error {
	if _, _, err := net.SplitHostPort(name); err == nil {
		return errors.New("want a host, not host:port")
	}
	if name == "" || len(name) > hostBytesMax {
		return fmt.Errorf("want an IP address or a DNS name of 1 to %d bytes", hostBytesMax)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not an IP address or a DNS name (empty, over-long or '-'-edged label)")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("not an IP address or a DNS name (%q)", c)
			}
		}
	}
	return nil
}

// certSerial is a random 128-bit serial number (RFC 5280 allows 20 bytes).
func certSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("auth: generating a serial number: %w", err)
	}
	return serial, nil
}

func certKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encoding a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// certWriteFile writes data to path with mode perm through a temporary file
// in the same directory (created 0600, so a key is never readable by others
// even half-written), synced before it takes the name. replace false links
// it into place (refusing an existing file, ErrCAExists); true renames it
// (replacing atomically).
func certWriteFile(path string, data []byte, perm os.FileMode, replace bool) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer func() {
		_ = os.Remove(tmp.Name()) // after a rename or link: already gone or a second name
		if err != nil {
			err = fmt.Errorf("auth: writing %s: %w", path, err)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrCAExists, path)
		}
		return err
	}
	return nil
}

// readCertFile reads a certificate or key file of at most certFileBytesMax.
// A key file (key true) must not be readable or writable by group or others
// (as ssh and CockroachDB insist), except on Windows, which has no modes.
func readCertFile(path string, key bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if key && runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: key file %s has mode %s: others may read it; chmod 600 it", path, info.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, certFileBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if len(data) > certFileBytesMax {
		return nil, fmt.Errorf("auth: %s is more than %d bytes", path, certFileBytesMax)
	}
	return data, nil
}

// parseCertsPEM parses every CERTIFICATE block of a PEM file; anything else
// in it, or no certificate at all, is an error.
func parseCertsPEM(path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("auth: %s: not PEM after %d certificate(s)", path, len(certs))
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("auth: %s: a %q block where a CERTIFICATE should be", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", path, err)
		}
		certs = append(certs, cert)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("auth: %s holds no certificate", path)
	}
	return certs, nil
}

// loadCAPool reads certsDir/ca.crt: every certificate in it must be a CA.
func loadCAPool(certsDir string) (*x509.CertPool, []*x509.Certificate, error) {
	path := filepath.Join(certsDir, CACertFile)
	data, err := readCertFile(path, false)
	if err != nil {
		return nil, nil, err
	}
	certs, err := parseCertsPEM(path, data)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, nil, fmt.Errorf("auth: %s: %q is not a CA certificate", path, c.Subject)
		}
		pool.AddCert(c)
	}
	return pool, certs, nil
}

// loadCA reads the CA certificate (from certsDir) that matches the CA key
// (from caKeyDir), and the key.
func loadCA(certsDir, caKeyDir string) (*x509.Certificate, crypto.Signer, error) {
	_, certs, err := loadCAPool(certsDir)
	if err != nil {
		return nil, nil, err
	}
	keyPath := filepath.Join(caKeyDir, CAKeyFile)
	data, err := readCertFile(keyPath, true)
	if err != nil {
		return nil, nil, err
	}
	key, err := parseKeyPEM(keyPath, data)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range certs {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(key.Public()) {
			return c, key, nil
		}
	}
	return nil, nil, fmt.Errorf("auth: no certificate in %s matches the key %s", filepath.Join(certsDir, CACertFile), keyPath)
}

func parseKeyPEM(path string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("auth: %s is not PEM", path)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("auth: %s: a %q block, want a PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("auth: %s: a %T cannot sign", path, key)
	}
	return signer, nil
}

// CertInfo describes one certificate of a certs directory, as List finds it.
type CertInfo struct {
	File    string // the file's base name, e.g. node-hz-a-1.crt
	Subject string
	IsCA    bool
	// Identity is the certificate's cellpay:// identity (zero for a CA, or
	// when it has none: then Problem says why).
	Identity  Identity
	Serial    string // hex
	NotBefore time.Time
	NotAfter  time.Time
	// The subject alternative names.
	DNSNames    []string
	IPAddresses []string
	URIs        []string
	// Problem is why the certificate would be refused, "" if it would not:
	// unparseable, no or a wrong identity for its file name, not signed by
	// the directory's ca.crt, expired or not yet valid. Several are joined
	// with "; ".
	Problem string
}

// List describes every certificate (*.crt) in the certs directory dir: the
// CAs of ca.crt first, then the others by file name. A file that cannot be
// read or parsed is listed with its Problem; only an unreadable directory
// (or more than certFilesMax certificates) is an error.
func List(dir string) ([]CertInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".crt") && e.Name() != CACertFile {
			names = append(names, e.Name())
		}
	}
	if len(names) > certFilesMax {
		return nil, fmt.Errorf("auth: %s holds %d certificates, more than %d", dir, len(names), certFilesMax)
	}
	slices.Sort(names)

	now := time.Now()
	var out []CertInfo
	pool, cas, caErr := loadCAPool(dir)
	switch {
	case caErr == nil:
		for _, c := range cas {
			info := certInfoOf(CACertFile, c)
			info.Problem = certTimeProblem(c, now)
			out = append(out, info)
		}
	case !errors.Is(caErr, fs.ErrNotExist):
		out = append(out, CertInfo{File: CACertFile, Problem: caErr.Error()})
	}
	for _, name := range names {
		out = append(out, listOne(dir, name, pool, caErr, now))
	}
	return out, nil
}

func listOne(dir, name string, pool *x509.CertPool, caErr error, now time.Time) CertInfo {
	path := filepath.Join(dir, name)
	data, err := readCertFile(path, false)
	if err != nil {
		return CertInfo{File: name, Problem: err.Error()}
	}
	certs, err := parseCertsPEM(path, data)
	if err != nil {
		return CertInfo{File: name, Problem: err.Error()}
	}
	cert := certs[0]
	info := certInfoOf(name, cert)
	var problems []string
	id, err := IdentityOf(cert)
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case filepath.Base(CertPath(dir, id)) != name:
		info.Identity = id
		problems = append(problems, fmt.Sprintf("names %s but the file is %s", id, name))
	default:
		info.Identity = id
	}
	if caErr != nil {
		problems = append(problems, "no usable "+CACertFile+" to check it against")
	} else {
		intermediates := x509.NewCertPool()
		for _, c := range certs[1:] {
			intermediates.AddCert(c)
		}
		// The time is checked below, in words; here only the signature.
		opts := x509.VerifyOptions{Roots: pool, Intermediates: intermediates, CurrentTime: cert.NotBefore.Add(time.Second),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := cert.Verify(opts); err != nil {
			problems = append(problems, "not signed by this directory's "+CACertFile)
		}
	}
	if p := certTimeProblem(cert, now); p != "" {
		problems = append(problems, p)
	}
	info.Problem = strings.Join(problems, "; ")
	return info
}

func certInfoOf(file string, c *x509.Certificate) CertInfo {
	info := CertInfo{
		File: file, Subject: c.Subject.String(), IsCA: c.IsCA, Serial: hex.EncodeToString(c.SerialNumber.Bytes()),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, DNSNames: slices.Clone(c.DNSNames),
	}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		info.URIs = append(info.URIs, u.String())
	}
	return info
}

func certTimeProblem(c *x509.Certificate, now time.Time) string {
	switch {
	case now.After(c.NotAfter):
		return "expired at " + c.NotAfter.UTC().Format(time.RFC3339)
	case now.Before(c.NotBefore):
		return "not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
	}
	return ""
}
