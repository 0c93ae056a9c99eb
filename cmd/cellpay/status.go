package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// exitUnhealthy: status could not be obtained from the router.
const exitUnhealthy = 4

// newStatusCmd: cellpay status --router ADDR [-o table|json]
func newStatusCmd() *cobra.Command {
	var (
		routerAddr string
		timeout    time.Duration
		format     outputFormat
		secOpts    securityFlags
	)
	cmd := &cobra.Command{
		Use:   "status --router ADDR",
		Short: "Show sites, members and cells as a router sees them",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if routerAddr == "" {
				return usageError(cmd, fmt.Errorf("--router is required"))
			}
			sec, err := secOpts.load(cmd, nil, "", auth.RoleOperator, "", nil, nil)
			if err != nil {
				return err
			}
			conn, err := grpc.NewClient("passthrough:///"+routerAddr, sec.DialCredentials())
			if err != nil {
				return usageError(cmd, err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, err := pb.NewRouterAdminClient(conn).Status(ctx, &pb.StatusRequest{})
			if err != nil {
				return &exitError{code: exitUnhealthy, err: fmt.Errorf("status from router %s: %w", routerAddr, err)}
			}
			if format == outputJSON {
				b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true, EmitUnpopulated: true}.Marshal(st)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().StringVar(&routerAddr, "router", "", "gRPC address of any router")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	addOutputFlag(cmd, &format)
	addSecurityFlags(cmd, &secOpts, true, false)
	return cmd
}

func printStatus(out io.Writer, st *pb.ClusterStatus) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "router %s (site %s) at %s\n\n", st.GetRouterId(), st.GetRouterSite(), time.UnixMilli(st.GetGeneratedAtUnixMs()).UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "SITE\tSEEN FROM\tREACHABLE\tRTT")
	for _, s := range st.GetSites() {
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", s.GetTargetSite(), s.GetObserverSite(), s.GetReachable(), time.Duration(s.GetRttUs())*time.Microsecond)
	}
	fmt.Fprintln(w, "\nMEMBER\tKIND\tSITE\tSTATE\tADDR")
	for _, m := range st.GetMembers() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.GetId(), m.GetKind(), m.GetSite(), m.GetState(), m.GetAddr())
	}
	fmt.Fprintln(w, "\nCELL\tHOME\tACTING\tLEADER\tTERM\tREPLICAS (applied/lag)\tOK\tFAILED")
	for _, c := range st.GetCells() {
		var reps []string
		for _, r := range c.GetReplicas() {
			if !r.GetReachable() {
				reps = append(reps, r.GetNodeId()+"=unreachable")
				continue
			}
			reps = append(reps, fmt.Sprintf("%s=%d/%d", r.GetNodeId(), r.GetAppliedIndex(), r.GetLag()))
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%d\n", c.GetCellId(), c.GetHomeSite(), c.GetActingSite(), c.GetLeaderNodeId(), c.GetTerm(), strings.Join(reps, " "), c.GetRequestsOk(), c.GetRequestsFailed())
	}
	for _, c := range st.GetCells() {
		if n := c.GetUnresolvedPayouts(); n > 0 {
			fmt.Fprintf(w, "\nALERT\tcell %d: %d payouts unresolved past the alert age, the oldest created %s (cellpay payouts list --state unknown)\n",
				c.GetCellId(), n, time.UnixMilli(c.GetOldestUnresolvedPayoutUnixMs()).UTC().Format(time.RFC3339))
		}
	}
	if len(st.GetSiteStates()) > 0 {
		fmt.Fprintln(w, "\nSITE\tSTATE\tSINCE\tREASON")
		for _, s := range st.GetSiteStates() {
			since := "-"
			if s.GetSinceUnixMs() > 0 {
				since = time.UnixMilli(s.GetSinceUnixMs()).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.GetSite(), strings.ToLower(strings.TrimPrefix(s.GetState().String(), "SITE_")), since, s.GetReason())
		}
	}
	if len(st.GetEvents()) > 0 {
		fmt.Fprintln(w, "\nEVENT\tAT\tKIND\tSITE\tCELL\tFROM\tTO\tMS\tREASON")
		for _, e := range st.GetEvents() {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", e.GetSeq(), time.UnixMilli(e.GetAtUnixMs()).UTC().Format("15:04:05.000"),
				e.GetKind(), e.GetSite(), e.GetCellId(), e.GetFromNode(), e.GetToNode(), e.GetDurationMs(), e.GetReason())
		}
	}
	return w.Flush()
}
