package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// operatorsFileBytesMax bounds an operators file.
const operatorsFileBytesMax = 1 << 20

// loadOperators reads an operators file: one "NAME SHA256HEX" per line (the
// hex SHA-256 of the operator's token; `printf %s TOKEN | sha256sum`),
// blank lines and '#' comments allowed. Every bad line is reported.
func loadOperators(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("operators file: %w", err)
	}
	if len(b) > operatorsFileBytesMax {
		return nil, fmt.Errorf("operators file %s: %d bytes, more than %d", path, len(b), operatorsFileBytesMax)
	}
	out := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		switch {
		case len(fields) != 2:
			errs = append(errs, fmt.Errorf("operators file %s:%d: want 'NAME SHA256HEX', got %d fields", path, line, len(fields)))
		case len(fields[1]) != 64 || strings.Trim(strings.ToLower(fields[1]), "0123456789abcdef") != "":
			errs = append(errs, fmt.Errorf("operators file %s:%d: %q is not a 64-digit hex SHA-256", path, line, fields[1]))
		case out[fields[0]] != "":
			errs = append(errs, fmt.Errorf("operators file %s:%d: operator %q listed twice", path, line, fields[0]))
		default:
			out[fields[0]] = strings.ToLower(fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("operators file %s: %w", path, err))
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("operators file %s lists no operator", path))
	}
	return out, errors.Join(errs...)
}
