package client

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// router is one router address and its lazy connection.
type router struct {
	region, addr string
	conn         *grpc.ClientConn
	payments     pb.PaymentsClient
	health       healthpb.HealthClient
	healthy      atomic.Bool
}

// routerSet chooses the router of each attempt.
type routerSet struct {
	own      string
	regions  []string // the own region first, then the others sorted
	inRegion map[string][]*router
	all      []*router // in the order of regions
	next     atomic.Uint64
	log      *slog.Logger
}

// Reconnection backoff of a connection: short, so a restarted router is
// reachable again within about a second (gRPC's default grows to 2 min).
const (
	reconnectDelayMin = 50 * time.Millisecond
	reconnectDelayMax = time.Second
)

func newRouterSet(cfg Config) (*routerSet, error) {
	s := &routerSet{own: cfg.Region, inRegion: make(map[string][]*router), log: cfg.Logger}
	for region := range cfg.Routers {
		if region != cfg.Region {
			s.regions = append(s.regions, region)
		}
	}
	slices.Sort(s.regions)
	s.regions = append([]string{cfg.Region}, s.regions...)

	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	bo := backoff.DefaultConfig
	bo.BaseDelay, bo.MaxDelay = reconnectDelayMin, reconnectDelayMax
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: cfg.AttemptTimeout}),
		grpc.WithStatsHandler(sentTracker{}),
	}
	if cfg.Dialer != nil {
		opts = append(opts, grpc.WithContextDialer(cfg.Dialer))
	}
	for _, region := range s.regions {
		for _, addr := range cfg.Routers[region] {
			conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
			if err != nil {
				return nil, errors.Join(err, s.close())
			}
			r := &router{region: region, addr: addr, conn: conn,
				payments: pb.NewPaymentsClient(conn), health: healthpb.NewHealthClient(conn)}
			r.healthy.Store(true) // until an attempt shows otherwise
			s.inRegion[region] = append(s.inRegion[region], r)
			s.all = append(s.all, r)
		}
	}
	return s, nil
}

// pick returns the router for the next attempt: round-robin over the
// healthy routers of the first region (own first) that has one; when none
// is healthy anywhere, every router in turn.
func (s *routerSet) pick() *router {
	n := s.next.Add(1)
	for _, region := range s.regions {
		var healthy []*router
		for _, r := range s.inRegion[region] {
			if r.healthy.Load() {
				healthy = append(healthy, r)
			}
		}
		if len(healthy) > 0 {
			return healthy[n%uint64(len(healthy))]
		}
	}
	return s.all[n%uint64(len(s.all))]
}

// anyHealthy reports whether some router is believed healthy.
func (s *routerSet) anyHealthy() bool {
	for _, r := range s.all {
		if r.healthy.Load() {
			return true
		}
	}
	return false
}

// currentRegion is the region pick uses now: the own region when nothing
// is healthy.
func (s *routerSet) currentRegion() string {
	for _, region := range s.regions {
		for _, r := range s.inRegion[region] {
			if r.healthy.Load() {
				return region
			}
		}
	}
	return s.own
}

func (s *routerSet) markUnhealthy(r *router, cause error) {
	if r.healthy.CompareAndSwap(true, false) {
		s.log.Warn("client: router unhealthy", "region", r.region, "addr", r.addr, "cause", cause,
			"current_region", s.currentRegion())
	}
}

func (s *routerSet) markHealthy(r *router, why string) {
	if r.healthy.CompareAndSwap(false, true) {
		s.log.Info("client: router healthy again", "region", r.region, "addr", r.addr, "by", why,
			"current_region", s.currentRegion())
	}
}

// probe runs the standard health check on r, waiting for a connection
// within ctx. A router without the health service (UNIMPLEMENTED) answered,
// so it counts as healthy.
func (s *routerSet) probe(ctx context.Context, r *router) bool {
	resp, err := r.health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return status.Code(err) == codes.Unimplemented
	}
	return resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

func (s *routerSet) close() error {
	var errs []error
	for _, r := range s.all {
		errs = append(errs, r.conn.Close())
	}
	return errors.Join(errs...)
}
