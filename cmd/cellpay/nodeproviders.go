package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/channel"
)

// addProviderFlags adds the payout provider flags of `cellpay node`.
func addProviderFlags(cmd *cobra.Command, specs *[]string, tokenFile *string, windowSpecs *[]string) {
	f := cmd.Flags()
	f.StringArrayVar(specs, "provider", nil, "a payout provider as NAME=URL (e.g. bank-a=http://127.0.0.1:7500, as served by 'cellpay provider'); repeat it, most preferred first; a payout goes to a later one only after a definite failure. Without any, payouts are refused")
	f.StringVar(tokenFile, "provider-token-file", "", "file holding the bearer token the providers require (see 'cellpay provider --token-file')")
	f.StringArrayVar(windowSpecs, "provider-idempotency-window", nil, "how long a --provider keeps payout ids, as NAME=DURATION (e.g. bank-a=24h), as its operator documents it: within it, a payout the provider has no record of may be submitted again; past it, it waits for an operator. Repeat it per provider; a provider without one promises none (0). Never more than the provider's real window: too long may pay twice")
}

// parseProviders turns --provider NAME=URL flags into providers, reporting
// every bad one at once (exit 2 for syntax, 3 for an invalid provider).
// The providers promise no idempotency window: for commands that only
// read their statements.
func parseProviders(cmd *cobra.Command, specs []string, tokenFile string) ([]channel.Provider, error) {
	return parseProvidersWithWindows(cmd, specs, tokenFile, nil)
}

// parseProvidersWithWindows is parseProviders with the idempotency windows
// of --provider-idempotency-window NAME=DURATION; each names one
// --provider, at most once.
func parseProvidersWithWindows(cmd *cobra.Command, specs []string, tokenFile string, windowSpecs []string) ([]channel.Provider, error) {
	if len(specs) == 0 {
		var errs []error
		if tokenFile != "" {
			errs = append(errs, errors.New("--provider-token-file needs at least one --provider"))
		}
		if len(windowSpecs) > 0 {
			errs = append(errs, errors.New("--provider-idempotency-window needs at least one --provider"))
		}
		if len(errs) > 0 {
			return nil, usageError(cmd, errors.Join(errs...))
		}
		return nil, nil
	}
	token, err := readTokenFile(tokenFile)
	if err != nil {
		return nil, err
	}
	windows, syntax := parseIdempotencyWindows(windowSpecs)
	var invalid []error
	var out []channel.Provider
	named := map[string]bool{}
	for i, spec := range specs {
		name, url, ok := strings.Cut(spec, "=")
		if !ok || name == "" || url == "" {
			syntax = append(syntax, fmt.Errorf("--provider[%d] %q: want NAME=URL", i, spec))
			continue
		}
		named[name] = true
		cfg := channel.DefaultHTTPProviderConfig(name, url)
		cfg.Token = token
		what := fmt.Sprintf("--provider[%d] %q", i, spec)
		if w, ok := windows[name]; ok {
			cfg.IdempotencyWindow = w.window
			what += fmt.Sprintf(" with --provider-idempotency-window[%d] %q", w.index, w.spec)
		}
		p, err := channel.NewHTTPProvider(cfg)
		if err != nil {
			invalid = append(invalid, fmt.Errorf("%s: %w", what, err))
			continue
		}
		out = append(out, p)
	}
	for _, name := range slices.SortedFunc(maps.Keys(windows), func(a, b string) int { return windows[a].index - windows[b].index }) {
		if w := windows[name]; !named[name] {
			// A typo must not leave the intended provider without the
			// window its operator meant (safe, but silently different).
			syntax = append(syntax, fmt.Errorf("--provider-idempotency-window[%d] %q: no --provider is named %q", w.index, w.spec, name))
		}
	}
	if len(syntax) > 0 {
		return nil, usageError(cmd, errors.Join(append(syntax, invalid...)...))
	}
	if len(invalid) > 0 {
		return nil, &exitError{code: exitInvalidConfig, err: errors.Join(invalid...)}
	}
	return out, nil
}

// idempotencyWindowFlag is one --provider-idempotency-window, kept with its
// place for error messages.
type idempotencyWindowFlag struct {
	window time.Duration
	index  int
	spec   string
}

// parseIdempotencyWindows reads NAME=DURATION flags by provider name,
// returning the syntax errors (the range is HTTPProviderConfig's to check).
func parseIdempotencyWindows(specs []string) (map[string]idempotencyWindowFlag, []error) {
	windows := map[string]idempotencyWindowFlag{}
	var errs []error
	for i, spec := range specs {
		name, text, ok := strings.Cut(spec, "=")
		if !ok || name == "" || text == "" {
			errs = append(errs, fmt.Errorf("--provider-idempotency-window[%d] %q: want NAME=DURATION, e.g. bank-a=24h", i, spec))
			continue
		}
		window, err := time.ParseDuration(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("--provider-idempotency-window[%d] %q: %q is not a duration such as 24h", i, spec, text))
			continue
		}
		if first, dup := windows[name]; dup {
			errs = append(errs, fmt.Errorf("--provider-idempotency-window[%d] %q: %s already has one (--provider-idempotency-window[%d] %q)", i, spec, name, first.index, first.spec))
			continue
		}
		windows[name] = idempotencyWindowFlag{window: window, index: i, spec: spec}
	}
	return windows, errs
}
