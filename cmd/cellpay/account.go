package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/meta"
)

// overdraftKeyPrefix makes the default idempotency key of `account create
// --overdraft`: the same command run again (after a timeout, say) answers
// the first result instead of failing with ACCOUNT_EXISTS.
const overdraftKeyPrefix = "overdraft:"

// newAccountCmd: cellpay account create|list --overdraft
func newAccountCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Open and list overdraft accounts (operators only)",
		Long: `An overdraft account may go below zero (allow_negative_balance): it can pay
out money it never had, so the public Payments API refuses to open one and
only an operator can, here, through the Control service of the meta group's
leader. Each request is recorded in the meta group's audit log (who, which
account, why) before the account's cell is asked; refusals are recorded too.
Plain accounts are opened by clients through a router's Payments API.

Both commands read the topology file (--config) to find the meta voters and
follow the meta leader, and need an operator token (--token, or
$CELLPAY_TOKEN).

Exit codes: 0 success, 2 bad arguments (or a request the cluster found
invalid), 3 invalid topology file, 4 no answer (the meta group or the
account's cell could not be asked; run the same command again), 6 refused by
the ledger (the account exists, the key was used with other parameters),
7 no or bad operator token.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(newAccountCreateCmd(), newAccountListCmd())
	return cmd
}

// accountConnect checks the flags shared with the drill commands and
// returns a client of the meta group, refusing a missing token before
// anything is asked.
func accountConnect(cmd *cobra.Command, o *drillOptions) (*meta.Client, error) {
	if err := o.check(cmd); err != nil {
		return nil, err
	}
	return o.connect(cmd, "overdraft accounts")
}

// newAccountCreateCmd: cellpay account create --overdraft --account ID ...
func newAccountCreateCmd() *cobra.Command {
	var (
		o                              drillOptions
		overdraft                      bool
		account, currency, reason, key string
	)
	cmd := &cobra.Command{
		Use:   "create --overdraft --account ID --currency CODE --reason TEXT --config FILE",
		Short: "Open an overdraft account (one allowed below zero), audited",
		Long: `Open an overdraft account in the cell that owns its id. The request is
idempotent on (--account, --key): the default key is "` + overdraftKeyPrefix + `ACCOUNT", so running
the same command again answers the first result ("already opened") instead
of failing; a key used before with other parameters is refused (exit 6).

Without --overdraft there is nothing to do here: plain accounts are opened
by clients through a router's Payments API.`,
		Example: `  CELLPAY_TOKEN=... cellpay account create --overdraft --account settlement-float-1 \
      --currency CNY --reason "settlement float for partner X, ticket OPS-123" --config prod.yaml`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !overdraft {
				return usageError(cmd, errors.New("plain accounts are opened by clients through the Payments API of a router "+
					"(gRPC Payments.CreateAccount, HTTP POST /v1/accounts), not here; "+
					"this command opens overdraft accounts only: pass --overdraft"))
			}
			var errs []error
			for _, f := range []struct{ name, value string }{{"--account", account}, {"--currency", currency}, {"--reason", reason}} {
				if f.value == "" {
					errs = append(errs, fmt.Errorf("%s is required", f.name))
				}
			}
			if len(errs) > 0 {
				return usageError(cmd, errors.Join(errs...))
			}
			if !cmd.Flags().Changed("key") {
				key = overdraftKeyPrefix + account
			}
			mc, err := accountConnect(cmd, &o)
			if err != nil {
				return err
			}
			defer mc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			req := &pb.CreateOverdraftAccountRequest{IdempotencyKey: key, AccountId: account, Currency: currency, Reason: reason}
			var got *pb.OverdraftAccount
			err = mc.Call(ctx, func(ctx context.Context, c pb.ControlClient) error {
				var err error
				got, err = c.CreateOverdraftAccount(ctx, req)
				return err
			})
			if err != nil {
				return accountCallError("open the overdraft account", err)
			}
			if o.format == outputJSON {
				return writeProtoJSON(cmd.OutOrStdout(), got)
			}
			return printOverdraftCreated(cmd.OutOrStdout(), got, key)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&overdraft, "overdraft", false, "open an overdraft account (required: the only kind opened here)")
	f.StringVar(&account, "account", "", "the account id")
	f.StringVar(&currency, "currency", "", "ISO 4217 currency code, e.g. CNY")
	f.StringVar(&reason, "reason", "", "why this account may go below zero (kept in the audit log)")
	f.StringVar(&key, "key", "", "idempotency key (default \""+overdraftKeyPrefix+"\" + the account id)")
	o.addFlags(cmd, 30*time.Second)
	return cmd
}

// newAccountListCmd: cellpay account list --overdraft
func newAccountListCmd() *cobra.Command {
	var (
		o         drillOptions
		overdraft bool
	)
	cmd := &cobra.Command{
		Use:   "list --overdraft --config FILE",
		Short: "List the overdraft accounts with their balances",
		Long: `List every overdraft account opened with 'cellpay account create --overdraft':
the meta leader finds them in the audit log and reads each one's balance
from its cell's leader. Accounts whose cell did not answer are named on
stderr (exit 4); the list is then incomplete.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !overdraft {
				return usageError(cmd, errors.New("only overdraft accounts are listed (the ledger lists no others): pass --overdraft"))
			}
			mc, err := accountConnect(cmd, &o)
			if err != nil {
				return err
			}
			defer mc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			var list *pb.ListOverdraftAccountsResponse
			err = mc.Call(ctx, func(ctx context.Context, c pb.ControlClient) error {
				var err error
				list, err = c.ListOverdraftAccounts(ctx, &pb.ListOverdraftAccountsRequest{})
				return err
			})
			if err != nil {
				return accountCallError("list the overdraft accounts", err)
			}
			if o.format == outputJSON {
				err = writeProtoJSON(cmd.OutOrStdout(), list)
			} else {
				err = printOverdraftList(cmd.OutOrStdout(), list)
			}
			if err != nil {
				return err
			}
			for _, u := range list.GetUnread() {
				fmt.Fprintf(cmd.ErrOrStderr(), "not read: %s\n", u)
			}
			if n := len(list.GetUnread()); n > 0 {
				return &exitError{code: exitUnhealthy, err: fmt.Errorf("the list is incomplete: %d account(s) could not be read from their cells", n)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&overdraft, "overdraft", false, "list the overdraft accounts (required: the only kind listed)")
	o.addFlags(cmd, 30*time.Second)
	return cmd
}

// accountCallError gives a failed call its exit code: the ledger's
// refusals are exit 6, no answer exit 4 (the request is idempotent: the
// same command again is safe), the rest as drills have them.
func accountCallError(what string, err error) error {
	var exit *exitError
	if errors.As(err, &exit) {
		return err
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.AlreadyExists, codes.FailedPrecondition:
		return &exitError{code: exitRefused, err: fmt.Errorf("%s: refused: %s (%s)", what, st.Message(), rpcstatus.Reason(err))}
	case codes.Unavailable, codes.DeadlineExceeded:
		return &exitError{code: exitUnhealthy, err: fmt.Errorf("%s: no answer: %s; nothing is done twice: run the same command again (the same --key)", what, st.Message())}
	}
	return drillCallError(what, err)
}

// printOverdraftCreated prints the account opened (or opened before).
func printOverdraftCreated(w io.Writer, a *pb.OverdraftAccount, key string) error {
	acct := a.GetAccount()
	if a.GetReplayed() {
		fmt.Fprintf(w, "overdraft account %s was already opened by a request with key %s: nothing was opened now\n", acct.GetId(), key)
	} else {
		fmt.Fprintf(w, "opened overdraft account %s in cell %d, by %s\n", acct.GetId(), a.GetCellId(), a.GetOperator())
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	printOverdraftRows(tw, []*pb.OverdraftAccount{a})
	return tw.Flush()
}

// printOverdraftList prints the overdraft accounts, one per row.
func printOverdraftList(w io.Writer, list *pb.ListOverdraftAccountsResponse) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	printOverdraftRows(tw, list.GetAccounts())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d overdraft account%s (answered by %s)\n", len(list.GetAccounts()), plural(len(list.GetAccounts())), list.GetAnsweredBy())
	if list.GetTruncatedBecause() != "" {
		fmt.Fprintf(w, "incomplete: %s\n", list.GetTruncatedBecause())
	}
	return nil
}

func printOverdraftRows(tw io.Writer, accounts []*pb.OverdraftAccount) {
	fmt.Fprintln(tw, "ACCOUNT\tCELL\tBALANCE (MINOR)\tCURRENCY\tCREATED\tOPERATOR\tREASON")
	for _, a := range accounts {
		acct := a.GetAccount()
		created := "-"
		if ms := acct.GetCreatedAtUnixMs(); ms > 0 {
			created = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", acct.GetId(), a.GetCellId(), acct.GetBalanceMinor(), acct.GetCurrency(), created,
			dash(a.GetOperator()), dash(a.GetReason()))
	}
}
