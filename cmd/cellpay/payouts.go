package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
)

// Limits of `cellpay payouts list`.
const (
	// payoutsListLimitDefault and payoutsListLimitMax bound the payouts one
	// run prints; past the limit it prints the token to resume with.
	payoutsListLimitDefault = 1000
	payoutsListLimitMax     = 100_000
	// payoutsPageSize is the router's largest page.
	payoutsPageSize = 500
)

// newPayoutsCmd: cellpay payouts list|get
func newPayoutsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "payouts",
		Short: "List and look up payouts through a router (e.g. those of unknown outcome)",
		Long: `List and look up payouts through any router's Payments API (docs/PAYOUTS.md).

Exit codes: 0 success, 1 the router answered with a refusal (e.g.
PAYOUT_NOT_FOUND), 2 bad flags (or a request the router found invalid),
4 the router could not be asked.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(newPayoutsListCmd(), newPayoutsGetCmd())
	return cmd
}

// payoutsFlags are the flags both subcommands share.
type payoutsFlags struct {
	routerAddr string
	timeout    time.Duration
	format     outputFormat
	sec        securityFlags
}

func (f *payoutsFlags) add(cmd *cobra.Command, timeout time.Duration) {
	cmd.Flags().StringVar(&f.routerAddr, "router", "", "gRPC address of any router (required)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", timeout, "how long to wait for every answer together")
	addOutputFlag(cmd, &f.format)
	addSecurityFlags(cmd, &f.sec, true, false)
}

// dial checks the shared flags and connects (lazily: a router that is not
// there fails the first call, exit code 4).
func (f *payoutsFlags) dial(cmd *cobra.Command) (pb.PaymentsClient, func(), error) {
	if f.routerAddr == "" {
		return nil, nil, usageError(cmd, errors.New("--router is required"))
	}
	if f.timeout <= 0 {
		return nil, nil, usageError(cmd, fmt.Errorf("--timeout %s must be positive", f.timeout))
	}
	sec, err := f.sec.load(cmd, nil, "", auth.RoleOperator, "", nil, nil)
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+f.routerAddr, sec.DialCredentials())
	if err != nil {
		return nil, nil, usageError(cmd, fmt.Errorf("--router %q: %w", f.routerAddr, err))
	}
	return pb.NewPaymentsClient(conn), func() { _ = conn.Close() }, nil
}

// payoutFlagOf names the flag that sets a request field, for errors.
var payoutFlagOf = map[string]string{
	"payout_id": "--id", "account_id": "--account", "state": "--state", "cell_id": "--cell", "page_token": "--page-token",
}

// payoutsCallError gives a failed call to the router its exit code: 4 when
// the router could not be asked, 2 when it found the request invalid, 1
// for any other answer (a refusal, with its reason).
func payoutsCallError(cmd *cobra.Command, routerAddr, what string, err error) error {
	st := status.Convert(err)
	reason := rpcstatus.Reason(err)
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return &exitError{code: exitUnhealthy, err: fmt.Errorf("%s: router %s could not be asked: %s: %s", what, routerAddr, st.Code(), st.Message())}
	case codes.InvalidArgument:
		msg := st.Message()
		if info, ok := rpcstatus.Info(err); ok {
			if flag, ok := payoutFlagOf[info.GetMetadata()[rpcstatus.MetaField]]; ok {
				msg = fmt.Sprintf("%s (flag %s)", msg, flag)
			}
		}
		return usageError(cmd, fmt.Errorf("%s: the router refused the request: %s", what, msg))
	}
	if reason == "" {
		reason = st.Code().String()
	}
	return fmt.Errorf("%s: %s: %s", what, reason, st.Message())
}

// parsePayoutState reads --state: a state name, case-insensitive, or "all".
func parsePayoutState(v string) (pb.PayoutState, error) {
	name := strings.ToUpper(strings.TrimSpace(v))
	if name == "" || name == "ALL" {
		return pb.PayoutState_PAYOUT_STATE_UNSPECIFIED, nil
	}
	if n, ok := pb.PayoutState_value["PAYOUT_STATE_"+strings.TrimPrefix(name, "PAYOUT_STATE_")]; ok && n != 0 {
		return pb.PayoutState(n), nil
	}
	return 0, fmt.Errorf("--state %q: want pending, succeeded, failed, unknown or all", v)
}

// stateName is a state as people read it: "unknown".
func stateName(s pb.PayoutState) string {
	if s == pb.PayoutState_PAYOUT_STATE_UNSPECIFIED {
		return "all"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "PAYOUT_STATE_"))
}

// newPayoutsListCmd: cellpay payouts list --router ADDR [--state S] [--cell N] [-o table|json]
func newPayoutsListCmd() *cobra.Command {
	var (
		f         payoutsFlags
		stateText string
		cellID    uint64
		limit     int
		pageToken string
	)
	cmd := &cobra.Command{
		Use:   "list --router ADDR [--state unknown] [--cell N]",
		Short: "List payouts by state, of every cell or of one",
		Long: `List payouts by state, of every cell (in cell order) or of one, following
the router's pages up to --limit. Past the limit it prints the token to go on
with (--page-token). -o json prints a ListPayoutsResponse.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			state, err := parsePayoutState(stateText)
			if err != nil {
				return usageError(cmd, err)
			}
			if limit < 1 || limit > payoutsListLimitMax {
				return usageError(cmd, fmt.Errorf("--limit %d must be between 1 and %d", limit, payoutsListLimitMax))
			}
			payments, closeConn, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			list, err := listPayouts(ctx, payments, &pb.PayoutListQuery{State: state, CellId: cellID, PageToken: pageToken}, limit)
			if err != nil {
				return payoutsCallError(cmd, f.routerAddr, "listing payouts", err)
			}
			if f.format == outputJSON {
				return writeProtoJSON(cmd.OutOrStdout(), list)
			}
			return printPayoutList(cmd.OutOrStdout(), list, state, cellID)
		},
	}
	f.add(cmd, 30*time.Second)
	cmd.Flags().StringVar(&stateText, "state", "all", "pending, succeeded, failed, unknown or all")
	cmd.Flags().Uint64Var(&cellID, "cell", 0, "only this cell (0: every cell)")
	cmd.Flags().IntVar(&limit, "limit", payoutsListLimitDefault, fmt.Sprintf("print at most this many payouts (1 to %d)", payoutsListLimitMax))
	cmd.Flags().StringVar(&pageToken, "page-token", "", "go on from where an earlier list stopped")
	return cmd
}

// listPayouts reads pages until the listing ends or limit payouts are in
// hand; the result's next_page_token is where it stopped ("" at the end).
// Each page is bounded by the router; the loop by limit and ctx.
func listPayouts(ctx context.Context, payments pb.PaymentsClient, q *pb.PayoutListQuery, limit int) (*pb.ListPayoutsResponse, error) {
	out := &pb.ListPayoutsResponse{}
	token := q.GetPageToken()
	for len(out.Payouts) < limit {
		page, err := payments.ListPayouts(ctx, &pb.PayoutListQuery{State: q.GetState(), CellId: q.GetCellId(),
			PageSize: uint32(min(limit-len(out.Payouts), payoutsPageSize)), PageToken: token})
		if err != nil {
			return nil, err
		}
		out.Payouts = append(out.Payouts, page.GetPayouts()...)
		token = page.GetNextPageToken()
		if token == "" {
			break
		}
	}
	out.NextPageToken = token
	return out, nil
}

func printPayoutList(out io.Writer, list *pb.ListPayoutsResponse, state pb.PayoutState, cellID uint64) error {
	where := "every cell"
	if cellID != 0 {
		where = "cell " + strconv.FormatUint(cellID, 10)
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	if len(list.GetPayouts()) == 0 {
		fmt.Fprintf(w, "no payouts in state %s of %s\n", stateName(state), where)
	} else {
		fmt.Fprintln(w, "PAYOUT\tACCOUNT\tAMOUNT (MINOR)\tCURRENCY\tSTATE\tPROVIDER\tCREATED\tUNKNOWN SINCE\tREASON")
		for _, p := range list.GetPayouts() {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(p.GetPayoutId()), printable(p.GetAccountId()),
				p.GetAmountMinor(), printable(p.GetCurrency()), stateName(p.GetState()), printable(p.GetProvider()),
				unixMs(p.GetCreatedAtUnixMs()), unixMs(p.GetUnknownSinceUnixMs()), orDash(printable(p.GetReason())))
		}
		noun := "payouts"
		if len(list.GetPayouts()) == 1 {
			noun = "payout"
		}
		fmt.Fprintf(w, "\n%d %s in state %s of %s\n", len(list.GetPayouts()), noun, stateName(state), where)
	}
	if list.GetNextPageToken() != "" {
		fmt.Fprintf(w, "more follow: go on with --page-token %s\n", list.GetNextPageToken())
	}
	return w.Flush()
}

// newPayoutsGetCmd: cellpay payouts get --router ADDR --id ID --account ACCT [-o table|json]
func newPayoutsGetCmd() *cobra.Command {
	var (
		f                 payoutsFlags
		payoutID, account string
	)
	cmd := &cobra.Command{
		Use:   "get --router ADDR --id ID --account ACCT",
		Short: "Show one payout (read from its cell's leader)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var missing []string
			if payoutID == "" {
				missing = append(missing, "--id")
			}
			if account == "" {
				missing = append(missing, "--account")
			}
			switch len(missing) {
			case 1:
				return usageError(cmd, fmt.Errorf("%s is required", missing[0]))
			case 2:
				return usageError(cmd, fmt.Errorf("%s and %s are required", missing[0], missing[1]))
			}
			payments, closeConn, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			rec, err := payments.GetPayout(ctx, &pb.PayoutLookup{PayoutId: payoutID, AccountId: account})
			if err != nil {
				return payoutsCallError(cmd, f.routerAddr, fmt.Sprintf("payout %q of account %q", payoutID, account), err)
			}
			if f.format == outputJSON {
				return writeProtoJSON(cmd.OutOrStdout(), rec)
			}
			return printPayout(cmd.OutOrStdout(), rec)
		},
	}
	f.add(cmd, 10*time.Second)
	cmd.Flags().StringVar(&payoutID, "id", "", "the payout id (required)")
	cmd.Flags().StringVar(&account, "account", "", "the account it pays out of (required): its cell stores the payout")
	return cmd
}

func printPayout(out io.Writer, p *pb.PayoutRecord) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("payout", printable(p.GetPayoutId()))
	row("account", printable(p.GetAccountId()))
	row("amount", fmt.Sprintf("%d %s (minor units)", p.GetAmountMinor(), printable(p.GetCurrency())))
	state := stateName(p.GetState())
	if p.GetUnknownSinceUnixMs() > 0 {
		state += " since " + unixMs(p.GetUnknownSinceUnixMs())
	}
	row("state", state)
	row("provider", orDash(printable(p.GetProvider())))
	if len(p.GetFailedProviders()) > 0 {
		row("failed at", printable(strings.Join(p.GetFailedProviders(), ", ")))
	}
	row("provider ref", orDash(printable(p.GetProviderRef())))
	row("reason", orDash(printable(p.GetReason())))
	row("created", unixMs(p.GetCreatedAtUnixMs()))
	row("updated", unixMs(p.GetUpdatedAtUnixMs()))
	row("balance after", strconv.FormatInt(p.GetBalanceAfterMinor(), 10))
	return w.Flush()
}

// unixMs is a time in UTC, "-" when unset.
func unixMs(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable replaces control characters (a provider's reason may hold
// tabs or newlines) so that each payout stays one table row.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
