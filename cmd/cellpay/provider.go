package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/channel"
)

// tokenFileBytesMax bounds a --token-file; a token is tens of bytes.
const tokenFileBytesMax = 4 << 10

// providerIdempotencyWindowDefault is the simulator's default window: the
// shortest that real banks commonly document, so that runs against it
// meet the forgetting they would meet in production.
const providerIdempotencyWindowDefault = 24 * time.Hour

// newProviderCmd: cellpay provider --listen ADDR --name NAME [--token-file FILE] [--idempotency-window D]
func newProviderCmd() *cobra.Command {
	var (
		listen, name, tokenFile, logLevel string
		hangMax, drain, idempotencyWindow time.Duration
	)
	cmd := &cobra.Command{
		Use:   "provider --listen ADDR --name NAME",
		Short: "Run a simulated payout provider (a bank) over HTTP",
		Long: `Run a simulated payout provider: a bank that pays payouts, honours the payout
id as its idempotency key, keeps its own statement of what it really paid, and
misbehaves on demand (fail, time out after paying, time out before, answer
slowly, be down, answer "processing"). It serves the JSON API of package
cell/channel on --listen until SIGTERM or SIGINT:

  POST /payouts       {"id", "account", "amount_minor", "currency"}
  GET  /payouts/ID    what became of a payout
  GET  /statement     what it really paid, and the submit calls per id
  GET  /behaviour     what it will do; POST /behaviour changes it, e.g.
                      {"submit": {"mode": "timeout_after_success"}}
  GET  /healthz       {"status", "provider", "idempotency_window"}

Like a real bank, it keeps a payout id only for --idempotency-window after
the submit that recorded it (default 24h; 0 keeps ids for ever): after that
a query of the id answers not found although it was paid, and a submit of it
pays again (GET /statement then lists it twice). A node is told the window it
may rely on with 'cellpay node --provider-idempotency-window NAME=DURATION';
tell it no more than this one.

The API changes state, so off loopback it requires a bearer token: an
address that is not loopback needs --token-file (a file holding the token;
every request but /healthz then needs "Authorization: Bearer TOKEN").
Its memory is its only store: a restart forgets every payout, so its window
holds only while the process runs; do not promise a node a window for a
provider that may be restarted under it.`,
		Example: `  cellpay provider --listen 127.0.0.1:7500 --name bank-a
  curl -s -X POST 127.0.0.1:7500/behaviour -d '{"submit":{"mode":"timeout_after_success"}}'`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, token, err := checkProviderFlags(cmd, listen, name, tokenFile, logLevel, hangMax, drain, idempotencyWindow)
			if err != nil {
				return err
			}
			cfg := channel.DefaultSimConfig(name)
			cfg.Logger, cfg.HangDurationMax, cfg.IdempotencyWindow = logger, hangMax, idempotencyWindow
			sim, err := channel.NewSim(cfg)
			if err != nil {
				return usageError(cmd, err)
			}
			defer sim.Close()
			handler := channel.NewHTTPHandler(sim)
			if token != "" {
				handler = channel.RequireBearerToken(token, handler)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{
				Handler:           handler,
				ReadHeaderTimeout: 5 * time.Second,
				IdleTimeout:       time.Minute,
				MaxHeaderBytes:    64 << 10,
				ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
				// No WriteTimeout: answers that hang are the point; the
				// simulator bounds them with --hang-max.
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "provider %s (simulated) serving on %s\n", name, ln.Addr())
			logger.Info("provider serving", "provider", name, "addr", ln.Addr().String(), "token", token != "",
				"idempotency_window", idempotencyWindow)

			select {
			case err := <-served:
				return fmt.Errorf("provider %s: %w", name, err)
			case <-cmd.Context().Done():
			}
			fmt.Fprintf(out, "provider %s: stopping\n", name)
			// Release the calls that hang first, so they do not hold up
			// the shutdown.
			sim.Close()
			ctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
				return fmt.Errorf("provider %s: stopping: %w", name, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7500", "host:port of the HTTP API")
	f.StringVar(&name, "name", "", "the provider's name, e.g. bank-a (required)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the bearer token every request but /healthz must carry (required off loopback)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&hangMax, "hang-max", time.Minute, "longest a call that hangs (timeout modes) is held when its client never gives up")
	f.DurationVar(&drain, "drain", 5*time.Second, "how long in-flight requests may take at shutdown")
	f.DurationVar(&idempotencyWindow, "idempotency-window", providerIdempotencyWindowDefault,
		fmt.Sprintf("how long a payout id is kept after the submit that recorded it; after it, a query answers not found and a submit pays again, as at a real bank (0: kept for ever; at most %s)", channel.IdempotencyWindowMax))
	return cmd
}

// checkProviderFlags validates every flag (every problem at once, a usage
// error) and returns the logger and the token (empty: none).
func checkProviderFlags(cmd *cobra.Command, listen, name, tokenFile, logLevel string, hangMax, drain, idempotencyWindow time.Duration) (*slog.Logger, string, error) {
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("--name is required"))
	} else if err := channel.DefaultSimConfig(name).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--name %q: %w", name, err))
	}
	host, _, err := net.SplitHostPort(listen)
	loopback := false
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port", listen))
	} else {
		ip := net.ParseIP(host)
		loopback = host == "localhost" || (ip != nil && ip.IsLoopback())
	}
	if err == nil && !loopback && tokenFile == "" {
		errs = append(errs, fmt.Errorf("--listen %q is not a loopback address: the API moves (simulated) money and changes behaviour, so give --token-file", listen))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if hangMax < time.Millisecond || hangMax > time.Hour {
		errs = append(errs, fmt.Errorf("--hang-max %s is not between 1ms and 1h", hangMax))
	}
	if drain <= 0 {
		errs = append(errs, fmt.Errorf("--drain %s is not positive", drain))
	}
	if idempotencyWindow < 0 || idempotencyWindow > channel.IdempotencyWindowMax {
		errs = append(errs, fmt.Errorf("--idempotency-window %s is not between 0 (for ever) and %s", idempotencyWindow, channel.IdempotencyWindowMax))
	}
	if len(errs) > 0 {
		return nil, "", usageError(cmd, errors.Join(errs...))
	}
	token, err := readTokenFile(tokenFile)
	if err != nil {
		return nil, "", err
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	return logger, token, nil
}

// readTokenFile reads a bearer token: the file's content without
// surrounding whitespace. No path: no token.
func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	if len(b) > tokenFileBytesMax {
		return "", &exitError{code: exitInvalidConfig, err: fmt.Errorf("--token-file %s: %d bytes, more than %d", path, len(b), tokenFileBytesMax)}
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", &exitError{code: exitInvalidConfig, err: fmt.Errorf("--token-file %s: want one token (no blanks) in the file", path)}
	}
	return token, nil
}
