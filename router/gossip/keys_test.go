package gossip

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte, size int) []byte { return bytes.Repeat([]byte{b}, size) }

func writeKeyFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by the umask
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyFileReadsKeysInOrder(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 16)
	text := "# gossip keyring: the first key encrypts\n" +
		base64.StdEncoding.EncodeToString(k2) + "   # new, primary since the rotation\n" +
		"\n" +
		"  " + base64.StdEncoding.EncodeToString(k1) + "\n"
	for _, mode := range []os.FileMode{0o600, 0o400} {
		keys, err := LoadKeyFile(writeKeyFile(t, text, mode))
		if err != nil {
			t.Fatalf("mode %#o: %v", mode, err)
		}
		if len(keys) != 2 || !bytes.Equal(keys[0], k2) || !bytes.Equal(keys[1], k1) {
			t.Fatalf("mode %#o: keys %x, want [k2 k1]", mode, keys)
		}
	}
}

func TestLoadKeyFileNamesEveryViolation(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(testKey(1, 24))
	text := good + "\n" +
		"not base64!\n" +
		base64.StdEncoding.EncodeToString(testKey(2, 20)) + "\n" +
		good + "\n"
	path := writeKeyFile(t, text, 0o644)
	_, err := LoadKeyFile(path)
	if !errors.Is(err, ErrKeyFile) {
		t.Fatalf("got %v, want ErrKeyFile", err)
	}
	for _, want := range []string{
		path,
		"mode 0644 lets group or others access it",
		"line 2: not standard base64",
		"line 3: key is 20 bytes; want 16, 24 or 32",
		"line 4: repeats the key of line 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), good) {
		t.Errorf("error shows a key:\n%v", err)
	}

	for name, text := range map[string]string{
		"no key":       "# nothing yet\n\n",
		"too many":     manyKeys(SecretKeysMax + 1),
		"world access": good + "\n",
	} {
		mode := os.FileMode(0o600)
		if name == "world access" {
			mode = 0o604
		}
		_, err := LoadKeyFile(writeKeyFile(t, text, mode))
		if !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: got %v, want ErrKeyFile", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrKeyFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(base64.StdEncoding.EncodeToString(testKey(byte(i+1), 16)) + "\n")
	}
	return b.String()
}

func TestValidateChecksSecretKeys(t *testing.T) {
	cfg := validConfig()
	cfg.SecretKeys = [][]byte{testKey(1, 32), testKey(2, 16), testKey(3, 24)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.SecretKeys = [][]byte{testKey(1, 32), testKey(2, 15), nil, testKey(1, 32)}
	err := cfg.Validate()
	for _, want := range []string{
		"SecretKeys[1]: key is 15 bytes; want 16, 24 or 32",
		"SecretKeys[2]: key is 0 bytes",
		"SecretKeys[3] repeats SecretKeys[0]",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	cfg.SecretKeys = nil
	for i := range SecretKeysMax + 1 {
		cfg.SecretKeys = append(cfg.SecretKeys, testKey(byte(i+1), 16))
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "SecretKeys has 9 keys, more than 8") {
		t.Errorf("too many keys: %v", err)
	}
}
