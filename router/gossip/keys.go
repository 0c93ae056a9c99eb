package gossip

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Keyring limits, with why.
const (
	// SecretKeysMax bounds the keyring: memberlist tries every key on every
	// message it cannot decrypt with the first, and a rotation needs two.
	SecretKeysMax = 8
	// keyFileBytesMax bounds what LoadKeyFile reads: a key line is about 45
	// bytes; 64 KiB leaves room for comments and refuses a wrong file fast.
	keyFileBytesMax = 64 << 10
	// keyFileModeForbidden are the permission bits a key file must not
	// have: any access by group or others.
	keyFileModeForbidden = 0o077
)

// ErrKeyFile marks every error of LoadKeyFile; check it with errors.Is.
var ErrKeyFile = errors.New("gossip: bad key file")

// checkKey accepts a key of an AES key size. The error names the length,
// never the key.
func checkKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("key is %d bytes; want 16, 24 or 32 (AES-128, AES-192, AES-256)", len(key))
}

// LoadKeyFile reads a gossip keyring (Config.SecretKeys) from path: one
// standard base64 key per line, the first being the one gossip encrypts
// with; blank lines and everything from a '#' on are ignored (base64 has
// no '#'). It refuses a file that group or others may access (mode &
// 0o077, e.g. 0644: chmod 600 or 400; a Kubernetes secret volume needs
// defaultMode 0400), a line that is not base64, a key that is not 16, 24
// or 32 bytes, a repeated key, more than SecretKeysMax keys and a file
// without any key. Every violation is reported at once, by line number,
// never with the key itself; the error matches ErrKeyFile.
func LoadKeyFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKeyFile, path, err)
	}
	defer f.Close() // read only: a close error changes nothing
	// The mode of the file read, not of whatever the path names later.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKeyFile, path, err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !info.Mode().IsRegular() {
		bad("not a regular file (mode %s)", info.Mode())
	}
	if perm := info.Mode().Perm(); perm&keyFileModeForbidden != 0 {
		bad("mode %#o lets group or others access it; want no bits of %#o (chmod 600)", perm, keyFileModeForbidden)
	}
	data, err := io.ReadAll(io.LimitReader(f, keyFileBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKeyFile, path, err)
	}
	if len(data) > keyFileBytesMax {
		bad("larger than %d bytes", keyFileBytesMax)
		data = data[:keyFileBytesMax]
	}
	keys, lineErrs := parseKeys(data)
	errs = append(errs, lineErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(append([]error{fmt.Errorf("%w %s", ErrKeyFile, path)}, errs...)...)
	}
	return keys, nil
}

// parseKeys parses the lines of a key file; it returns the keys and a
// violation per bad line, plus one if there is no key or too many.
func parseKeys(data []byte) ([][]byte, []error) {
	var keys [][]byte
	var errs []error
	firstLine := map[string]int{} // key -> line it first appeared on
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 4096), keyFileBytesMax)
	for line := 1; scanner.Scan(); line++ {
		text, _, _ := strings.Cut(scanner.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: not standard base64 (%d characters)", line, len(text)))
			continue
		}
		if err := checkKey(key); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		if first, ok := firstLine[string(key)]; ok {
			errs = append(errs, fmt.Errorf("line %d: repeats the key of line %d", line, first))
			continue
		}
		firstLine[string(key)] = line
		keys = append(keys, key)
	}
	if err := scanner.Err(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case len(keys) == 0 && len(errs) == 0:
		errs = append(errs, errors.New("no key (one base64 key per line, the first is used to encrypt)"))
	case len(keys) > SecretKeysMax:
		errs = append(errs, fmt.Errorf("%d keys, more than %d", len(keys), SecretKeysMax))
	}
	return keys, errs
}
