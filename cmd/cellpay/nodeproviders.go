package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/channel"
)

// addProviderFlags adds the payout provider flags of `cellpay node`.
func addProviderFlags(cmd *cobra.Command, specs *[]string, tokenFile *string) {
	f := cmd.Flags()
	f.StringArrayVar(specs, "provider", nil, "a payout provider as NAME=URL (e.g. bank-a=http://127.0.0.1:7500, as served by 'cellpay provider'); repeat it, most preferred first; a payout goes to a later one only after a definite failure. Without any, payouts are refused")
	f.StringVar(tokenFile, "provider-token-file", "", "file holding the bearer token the providers require (see 'cellpay provider --token-file')")
}

// parseProviders turns --provider NAME=URL flags into providers, reporting
// every bad one at once (exit 2 for syntax, 3 for an invalid provider).
func parseProviders(cmd *cobra.Command, specs []string, tokenFile string) ([]channel.Provider, error) {
	if len(specs) == 0 {
		if tokenFile != "" {
			return nil, usageError(cmd, errors.New("--provider-token-file needs at least one --provider"))
		}
		return nil, nil
	}
	token, err := readTokenFile(tokenFile)
	if err != nil {
		return nil, err
	}
	var syntax, invalid []error
	var out []channel.Provider
	for i, spec := range specs {
		name, url, ok := strings.Cut(spec, "=")
		if !ok || name == "" || url == "" {
			syntax = append(syntax, fmt.Errorf("--provider[%d] %q: want NAME=URL", i, spec))
			continue
		}
		cfg := channel.DefaultHTTPProviderConfig(name, url)
		cfg.Token = token
		p, err := channel.NewHTTPProvider(cfg)
		if err != nil {
			invalid = append(invalid, fmt.Errorf("--provider[%d] %q: %w", i, spec, err))
			continue
		}
		out = append(out, p)
	}
	if len(syntax) > 0 {
		return nil, usageError(cmd, errors.Join(append(syntax, invalid...)...))
	}
	if len(invalid) > 0 {
		return nil, &exitError{code: exitInvalidConfig, err: errors.Join(invalid...)}
	}
	return out, nil
}
