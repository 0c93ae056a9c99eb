package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/cellpay/cellpay/chaos"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/statuspage"
)

const (
	// OperatorName is the operator Interactive configures, with Config.Token.
	OperatorName = "demo"
	// TokenEnv is where cellpay drill looks for the token without --token.
	TokenEnv = "CELLPAY_TOKEN"
	// CertsDirEnv is where the tools look for their certificates when
	// --certs-dir is not given (the cluster's throwaway CA is there).
	CertsDirEnv = "CELLPAY_CERTS_DIR"
	// leadersTimeout bounds the wait for every cell to lead at home.
	leadersTimeout = 60 * time.Second
)

// Interactive starts the demo's cluster, moves every cell's leader home,
// writes topology.yaml to cfg.ReportDir, prints the routers' addresses and
// commands to try against them (with the operator token cfg.Token), and
// drives cfg.Workers workers of traffic (none with 0) until ctx ends; then
// it stops everything it started. It returns nil when ctx ends.
func Interactive(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if err := cfg.Validate(false); err != nil {
		return err
	}
	start := time.Now()
	st := newStatus(cfg.Out, cfg.Live, cfg.StatusInterval, start)
	defer st.close()
	st.enter("start", fmt.Sprintf("%d nodes, %d routers", len(sites)*cfg.NodesPerSite, len(sites)), false)
	c, err := startCluster(cfg, map[string]string{OperatorName: control.TokenSHA256(cfg.Token)})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(cfg.Out, "stopping the cluster")
		if err := c.Close(); err != nil {
			cfg.Logger.Warn("demo: closing the cluster", "error", err)
		}
	}()
	st.setCluster(c)
	wctx, cancel := context.WithTimeout(ctx, leadersTimeout)
	err = errors.Join(c.WaitLeaders(wctx), c.LeadersHome(wctx))
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	topoPath := filepath.Join(cfg.ReportDir, "topology.yaml")
	if err := writeTopology(topoPath, c.Topology.Spec()); err != nil {
		return err
	}
	st.close()

	w := cfg.Out
	fmt.Fprintf(w, "\nThe cluster is up: %d sites, %d nodes (%d per site), %d cells, emulated RTTs.\n",
		len(sites), len(sites)*cfg.NodesPerSite, cfg.NodesPerSite, cfg.Cells)
	fmt.Fprintf(w, "\nrouters   site   gRPC               HTTP (the payments API under /v1/)\n")
	for _, s := range sites {
		fmt.Fprintf(w, "          %-6s %-18s http://%s\n", s.ID, c.RouterAddr(s.ID), c.HTTPAddr(s.ID))
	}
	grpcAddr, httpAddr := c.RouterAddr(sites[0].ID), c.HTTPAddr(sites[0].ID)
	fmt.Fprintf(w, "status    http://%s%s (the status page: open it in a browser)\n", httpAddr, statuspage.PathPage)
	fmt.Fprintf(w, "topology  %s\n", topoPath)
	if dir := c.CertsDir(); dir != "" {
		fmt.Fprintf(w, "certs     %s (a throwaway CA; every gRPC port speaks mutual TLS)\n", dir)
	}
	fmt.Fprintf(w, "operator  %s, token %s\n", OperatorName, cfg.Token)
	if cfg.LogPath != "" {
		fmt.Fprintf(w, "log       %s\n", cfg.LogPath)
	}
	fmt.Fprintf(w, "\nTry, in another terminal in the repository (cellpay is bin/cellpay, which\n")
	fmt.Fprintf(w, "make demo builds, or go run ./cmd/cellpay):\n")
	if dir := c.CertsDir(); dir != "" {
		fmt.Fprintf(w, "  export %s=%s\n", CertsDirEnv, dir)
	}
	fmt.Fprintf(w, "  cellpay status --router %s\n", grpcAddr)
	fmt.Fprintf(w, "  curl -sS -X POST http://%s/v1/accounts -H 'Content-Type: application/json' \\\n", httpAddr)
	fmt.Fprintf(w, "    -H 'Idempotency-Key: open-alice' -d '{\"account_id\":\"alice\",\"currency\":\"CNY\"}'\n")
	fmt.Fprintf(w, "  curl -sS http://%s/v1/accounts/alice\n", httpAddr)
	fmt.Fprintf(w, "  export %s=%s\n", TokenEnv, cfg.Token)
	fmt.Fprintf(w, "  cellpay drill evacuate --site %s --config %s --dry-run\n", sites[0].ID, topoPath)
	fmt.Fprintf(w, "  cellpay drill evacuate --site %s --config %s --yes\n", sites[0].ID, topoPath)
	fmt.Fprintf(w, "  cellpay drill failback --site %s --config %s --yes\n", sites[0].ID, topoPath)
	fmt.Fprintf(w, "  cellpay reconcile --config %s\n", topoPath)
	fmt.Fprintf(w, "  cellpay payouts list --router %s\n", grpcAddr)
	if cfg.Workers > 0 {
		fmt.Fprintf(w, "\nTraffic: %d workers from clients in both regions. Ctrl-C stops everything.\n\n", cfg.Workers)
	} else {
		fmt.Fprintf(w, "\nNo traffic (--workers 0). Ctrl-C stops everything.\n\n")
	}

	live := newStatus(cfg.Out, cfg.Live, cfg.StatusInterval, start)
	defer live.close()
	live.setCluster(c)
	var wg sync.WaitGroup
	var trafficErr error
	if cfg.Workers > 0 {
		live.enter("traffic", "", true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			trafficErr = chaos.Traffic(ctx, chaos.InProcess(c), chaos.TrafficOptions{
				Workers: cfg.Workers, Seed: cfg.Seed, RunTag: "live", Observe: live.observe,
			})
			if trafficErr != nil {
				live.setNote("traffic stopped: " + trafficErr.Error())
			}
		}()
	} else {
		live.enter("idle", "", false)
	}
	<-ctx.Done()
	wg.Wait()
	live.close()
	if trafficErr != nil {
		return fmt.Errorf("demo: traffic: %w", trafficErr)
	}
	return nil
}
