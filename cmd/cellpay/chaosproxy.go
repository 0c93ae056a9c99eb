package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/chaos/fabric"
	"github.com/cellpay/cellpay/chaos/proxy"
)

// addChaosProxyCommands adds the chaos proxy and the commands that drive its
// control API to parent (cellpay chaos):
//
//	cellpay chaos proxy --config FILE
//	cellpay chaos proxy-config --config TOPOLOGY --base-port N [--router SITE=ADDR]...
//	cellpay chaos cut A B | isolate SITE | heal [A B] | reset A B
//	cellpay chaos delay A B DELAY [--jitter J] | loss A B P | bandwidth A B BYTES_PER_SECOND
//	cellpay chaos status [-o table|json]
//
// The control commands take --control ADDR (default proxy.DefaultControlAddr)
// and --timeout; they exit 2 on bad arguments and 1 when the proxy cannot be
// reached.
func addChaosProxyCommands(parent *cobra.Command) {
	parent.AddCommand(
		newChaosProxyCmd(),
		newChaosProxyConfigCmd(),
		newChaosCutCmd(),
		newChaosIsolateCmd(),
		newChaosDelayCmd(),
		newChaosLossCmd(),
		newChaosBandwidthCmd(),
		newChaosHealCmd(),
		newChaosResetCmd(),
		newChaosStatusCmd(),
	)
}

// newChaosProxyCmd: cellpay chaos proxy --config FILE
func newChaosProxyCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "proxy --config FILE",
		Short: "Run the chaos TCP proxy between the sites of a multi-process cluster",
		Long: `Run the chaos proxy: one listening port per (from-site, target) route, each
forwarding to its target through the chaos fabric, and an HTTP control API that
the other 'cellpay chaos' commands use to add delay, loss, bandwidth limits and
cuts (black holes) while the cluster runs. It runs until SIGTERM or SIGINT.

FILE is JSON (unknown fields are errors; every problem is reported, exit 3):

  {
    "control_addr": "127.0.0.1:7400",
    "seed": 1,
    "routes": [
      {"name": "hz-a>sh-a-1", "from_site": "hz-a", "listen_addr": "127.0.0.1:17101",
       "target_addr": "127.0.0.1:7101", "target_site": "sh-a"}
    ],
    "links": [{"from": "hz-a", "to": "sh-a", "link": {"delay": "15ms", "jitter": "1ms"}}]
  }

Processes of from_site dial listen_addr instead of target_addr. name defaults
to "from_site->target_addr", control_addr to 127.0.0.1:7400, links (set at
start; loss, cut and bandwidth_bytes_per_second too) to none. Clients are a
site like any other, e.g. "clients-hangzhou".`,
		Example: `  cellpay chaos proxy --config deploy/chaos-proxy.json`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageError(cmd, errors.New("--config is required"))
			}
			cfg, err := proxy.LoadConfig(configPath)
			if errors.Is(err, proxy.ErrInvalidConfig) {
				return &exitError{code: exitInvalidConfig, err: err}
			}
			if err != nil {
				return err
			}
			p, err := proxy.Start(cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "chaos proxy: control API on %s, %d route(s)\n", p.ControlAddr(), len(cfg.Routes))
			for _, r := range p.Routes() {
				fmt.Fprintf(out, "  %s: %s dials %s -> %s (%s)\n", r.Name, r.FromSite, r.ListenAddr, r.TargetAddr, r.TargetSite)
			}
			<-cmd.Context().Done()
			fmt.Fprintln(out, "chaos proxy: stopping")
			return p.Close()
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "proxy config file (JSON)")
	return cmd
}

// chaosControl is a client of the proxy's control API, with the flags every
// control command shares.
type chaosControl struct {
	addr    string
	timeout time.Duration
}

func (c *chaosControl) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.addr, "control", proxy.DefaultControlAddr, "host:port of the chaos proxy's control API")
	cmd.Flags().DurationVar(&c.timeout, "timeout", 5*time.Second, "how long to wait for the proxy")
}

// check validates the shared flags (a usage error when bad).
func (c *chaosControl) check(cmd *cobra.Command) error {
	if _, _, err := net.SplitHostPort(c.addr); err != nil || c.addr == "" {
		return usageError(cmd, fmt.Errorf("--control %q is not host:port", c.addr))
	}
	if c.timeout <= 0 {
		return usageError(cmd, fmt.Errorf("--timeout %s is not positive", c.timeout))
	}
	return nil
}

// call sends one request (body marshaled to JSON unless nil) and decodes the
// answer into out. It fails with exit code 1 when the proxy cannot be reached
// or fails, and with 2 when it rejects the request as bad input.
func (c *chaosControl) call(cmd *cobra.Command, method, path string, body, out any) error {
	var reqBody io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, reqBody)
	if err != nil {
		return usageError(cmd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // One request per process.
	resp, err := client.Do(req)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("chaos proxy at %s cannot be reached: %w", c.addr, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("chaos proxy at %s: reading the answer: %w", c.addr, err)}
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr struct {
			Error string `json:"error"`
		}
		message := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &apiErr) == nil && apiErr.Error != "" {
			message = apiErr.Error
		}
		err := fmt.Errorf("chaos proxy at %s refused %s %s: %s", c.addr, method, path, message)
		if resp.StatusCode == http.StatusBadRequest {
			return usageError(cmd, err)
		}
		return &exitError{code: exitFailure, err: err}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("chaos proxy at %s answered %s %s with something else than JSON: %w", c.addr, method, path, err)}
	}
	return nil
}

// setLinks changes both directions between a and b with the partial link
// body and prints what changed.
func (c *chaosControl) setLinks(cmd *cobra.Command, action, a, b string, body map[string]any) error {
	var links []proxy.SiteLink
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		var resp proxy.ChangeResponse
		path := "/links/" + url.PathEscape(pair[0]) + "/" + url.PathEscape(pair[1])
		if err := c.call(cmd, http.MethodPost, path, body, &resp); err != nil {
			return err
		}
		links = append(links, resp.Links...)
	}
	return printChange(cmd.OutOrStdout(), proxy.ChangeResponse{Action: action, Links: links})
}

// post sends a POST whose answer is a ChangeResponse, and prints it.
func (c *chaosControl) post(cmd *cobra.Command, path string, body any) error {
	var resp proxy.ChangeResponse
	if err := c.call(cmd, http.MethodPost, path, body, &resp); err != nil {
		return err
	}
	return printChange(cmd.OutOrStdout(), resp)
}

// newChaosControlCmd builds a control command: use, short and the argument
// names; run gets the checked client and the arguments.
func newChaosControlCmd(use, short, long string, args cobra.PositionalArgs, run func(cmd *cobra.Command, c *chaosControl, args []string) error) *cobra.Command {
	c := &chaosControl{}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(cmd); err != nil {
				return err
			}
			return run(cmd, c, args)
		},
	}
	c.addFlags(cmd)
	return cmd
}

// newChaosCutCmd: cellpay chaos cut A B
func newChaosCutCmd() *cobra.Command {
	return newChaosControlCmd("cut A B", "Cut both directions between two sites (a black hole)",
		`Cut both directions between sites A and B, like a fiber cut: bytes vanish and
connections hang, nothing is reset. Held bytes arrive in order after heal.`,
		exactArgs("A", "B"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			return c.post(cmd, "/cut", map[string]string{"a": args[0], "b": args[1]})
		})
}

// newChaosIsolateCmd: cellpay chaos isolate SITE
func newChaosIsolateCmd() *cobra.Command {
	return newChaosControlCmd("isolate SITE", "Cut a site from every other site",
		`Cut SITE from every site the proxy forwards to, both directions. Client
pseudo-sites (clients-*) are not cut: use the control API's /ingress/cut.`,
		exactArgs("SITE"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			return c.post(cmd, "/isolate", map[string]string{"site": args[0]})
		})
}

// newChaosHealCmd: cellpay chaos heal [A B]
func newChaosHealCmd() *cobra.Command {
	return newChaosControlCmd("heal [A B]", "Heal every cut, or the cut between two sites",
		`Without arguments, heal every cut link (and every ingress cut). With A and B,
heal both directions between them. Delays, loss and bandwidth limits stay.`,
		func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) == 2 {
				return nil
			}
			return usageError(cmd, fmt.Errorf("want no arguments (heal everything) or 2 (A B), got %d", len(args)))
		}, func(cmd *cobra.Command, c *chaosControl, args []string) error {
			if len(args) == 0 {
				return c.post(cmd, "/heal", nil)
			}
			return c.post(cmd, "/heal", map[string]string{"a": args[0], "b": args[1]})
		})
}

// newChaosResetCmd: cellpay chaos reset A B
func newChaosResetCmd() *cobra.Command {
	return newChaosControlCmd("reset A B", "Abort every live connection between two sites (TCP RST)",
		`Abort every connection forwarded between sites A and B, either way, like a TCP
reset: the abrupt alternative to a cut. Links are unchanged.`,
		exactArgs("A", "B"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			return c.post(cmd, "/reset", map[string]string{"a": args[0], "b": args[1]})
		})
}

// newChaosDelayCmd: cellpay chaos delay A B DELAY [--jitter J]
func newChaosDelayCmd() *cobra.Command {
	var jitter time.Duration
	cmd := newChaosControlCmd("delay A B DELAY", "Set the one-way delay (and jitter) between two sites",
		`Set the one-way delay of both directions between A and B to DELAY (a round
trip then takes twice as long), plus a seeded uniform jitter in [0, --jitter).
Byte order is preserved. Cuts, loss and bandwidth limits stay. 0 removes it.`,
		exactArgs("A", "B", "DELAY"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			delay, err := time.ParseDuration(args[2])
			if err != nil || delay < 0 {
				return usageError(cmd, fmt.Errorf("DELAY %q is not a duration >= 0 such as 30ms", args[2]))
			}
			if jitter < 0 {
				return usageError(cmd, fmt.Errorf("--jitter %s is negative", jitter))
			}
			action := fmt.Sprintf("delay %s <-> %s: %s one way, jitter %s", args[0], args[1], delay, jitter)
			return c.setLinks(cmd, action, args[0], args[1], map[string]any{"delay": delay.String(), "jitter": jitter.String()})
		})
	cmd.Flags().DurationVar(&jitter, "jitter", 0, "uniform extra delay in [0, jitter)")
	return cmd
}

// newChaosLossCmd: cellpay chaos loss A B P
func newChaosLossCmd() *cobra.Command {
	return newChaosControlCmd("loss A B P", "Set the chunk loss probability between two sites",
		`Set the probability P (0 to 1) that a chunk between A and B is lost, both
directions. As over TCP, a lost chunk is not dropped: it and every byte behind
it arrive late, after a retransmission stall (200ms). 0 removes it.`,
		exactArgs("A", "B", "P"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			p, err := strconv.ParseFloat(args[2], 64)
			if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
				return usageError(cmd, fmt.Errorf("P %q is not a probability between 0 and 1 such as 0.05", args[2]))
			}
			action := fmt.Sprintf("loss %s <-> %s: %v", args[0], args[1], p)
			return c.setLinks(cmd, action, args[0], args[1], map[string]any{"loss": p})
		})
}

// newChaosBandwidthCmd: cellpay chaos bandwidth A B BYTES_PER_SECOND
func newChaosBandwidthCmd() *cobra.Command {
	return newChaosControlCmd("bandwidth A B BYTES_PER_SECOND", "Limit the bandwidth of each connection between two sites",
		`Pace every connection between A and B, each direction, to BYTES_PER_SECOND
(an integer; 0 removes the limit).`,
		exactArgs("A", "B", "BYTES_PER_SECOND"), func(cmd *cobra.Command, c *chaosControl, args []string) error {
			rate, err := strconv.ParseInt(args[2], 10, 64)
			if err != nil || rate < 0 {
				return usageError(cmd, fmt.Errorf("BYTES_PER_SECOND %q is not an integer >= 0", args[2]))
			}
			action := fmt.Sprintf("bandwidth %s <-> %s: %s", args[0], args[1], bandwidthText(rate))
			return c.setLinks(cmd, action, args[0], args[1], map[string]any{"bandwidth_bytes_per_second": rate})
		})
}

// newChaosStatusCmd: cellpay chaos status [-o table|json]
func newChaosStatusCmd() *cobra.Command {
	var format outputFormat
	cmd := newChaosControlCmd("status", "Show the proxy's links and routes",
		`Show the link of every ordered pair of sites the proxy knows, and each route
with its live and total connections.`,
		exactArgs(), func(cmd *cobra.Command, c *chaosControl, _ []string) error {
			var st proxy.StatusResponse
			if err := c.call(cmd, http.MethodGet, "/status", nil, &st); err != nil {
				return err
			}
			if format == outputJSON {
				b, err := json.MarshalIndent(st, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			return printChaosStatus(cmd.OutOrStdout(), st)
		})
	addOutputFlag(cmd, &format)
	return cmd
}

func printChange(out io.Writer, resp proxy.ChangeResponse) error {
	fmt.Fprintln(out, resp.Action)
	return printLinks(out, resp.Links)
}

func printChaosStatus(out io.Writer, st proxy.StatusResponse) error {
	if err := printLinks(out, st.Links); err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nROUTE\tFROM SITE\tLISTEN\tTARGET\tTARGET SITE\tLIVE\tTOTAL")
	for _, r := range st.Routes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", r.Name, r.FromSite, r.ListenAddr, r.TargetAddr, r.TargetSite, r.LiveConns, r.TotalConns)
	}
	return w.Flush()
}

func printLinks(out io.Writer, links []proxy.SiteLink) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FROM\tTO\tDELAY\tJITTER\tLOSS\tBANDWIDTH\tCUT")
	for _, l := range links {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\t%s\n", l.From, l.To, l.Link.Delay, l.Link.Jitter, l.Link.Loss,
			bandwidthText(l.Link.BandwidthBytesPerSecond), cutText(l.Link))
	}
	return w.Flush()
}

func bandwidthText(bytesPerSecond int64) string {
	if bytesPerSecond <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d B/s", bytesPerSecond)
}

func cutText(l fabric.Link) string {
	if l.Cut {
		return "CUT"
	}
	return "-"
}
