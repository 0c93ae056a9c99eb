package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
)

// What the demo (cellpay demo) needs beyond Run: a Target over a cluster it
// started itself (with its own shape and control settings, kept after the
// run for the reconciliation and --interactive), and the bank workload
// without a scenario.

// InProcess is a Target over c, an in-process cluster the caller started
// (cluster.Start), e.g. with more cells or nodes than StartInProcess.
// Passed as Options.Target, Run leaves it running; Close closes c.
func InProcess(c *cluster.Cluster) Target { return &inProcess{c: c} }

// TrafficOptions shape Traffic. Zero fields take their defaults.
type TrafficOptions struct {
	// Workers is the number of concurrent client workers (default 8, at
	// most 1000).
	Workers int
	Seed    int64
	// RunTag prefixes account ids and keys, as Options.RunTag does.
	RunTag string
	// Observe, if set, is given the history once, before the accounts are
	// set up (Options.Observe).
	Observe func(*history.History)
}

// trafficRound bounds the history Traffic keeps: each round of traffic
// records into a fresh one, so a session of hours holds a few seconds of
// operations, not all of them.
const trafficRound = 10 * time.Second

// Traffic drives the bank workload of Run on t, without faults or checks,
// until ctx ends: accounts created and funded in every cell, then
// transfers, deposits and balance reads from clients in every region. It
// records into a fresh history every round of trafficRound (given to
// Observe each time; a round's keys come from Seed plus the round number,
// so they never repeat). It returns nil when ctx ends after the setup, else
// the setup's error.
func Traffic(ctx context.Context, t Target, opts TrafficOptions) error {
	if opts.Workers == 0 {
		opts.Workers = 8
	}
	var errs []error
	if opts.Workers < 1 || opts.Workers > 1000 {
		errs = append(errs, fmt.Errorf("chaos: TrafficOptions.Workers (%d) must be in [1, 1000]", opts.Workers))
	}
	if len(opts.RunTag) > runTagBytesMax || strings.Trim(opts.RunTag, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		errs = append(errs, fmt.Errorf("chaos: TrafficOptions.RunTag (%q) must be at most %d bytes of [a-z0-9-]", opts.RunTag, runTagBytesMax))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	h := history.New()
	if opts.Observe != nil {
		opts.Observe(h)
	}
	var clients []*client.Client
	for _, region := range regionsOf(t.Topology()) {
		cfg := t.ClientConfig(region)
		cfg.Deadline = 15 * time.Second
		cl, err := client.New(cfg)
		if err != nil {
			return err
		}
		defer cl.Close()
		clients = append(clients, cl)
	}
	b, err := newBank(t.Topology(), h, clients, opts.RunTag)
	if err != nil {
		return err
	}
	if err := b.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// When ctx ends the workers stop sending, but the operations in flight
	// finish (within the clients' deadline) rather than end as unknown
	// outcomes that no fault caused.
	opCtx := context.WithoutCancel(ctx)
	for round := int64(1); ctx.Err() == nil; round++ {
		b.h = history.New()
		if opts.Observe != nil {
			opts.Observe(b.h)
		}
		stop := make(chan struct{})
		go func() {
			pause(trafficRound, ctx.Done())
			close(stop)
		}()
		b.run(opCtx, opts.Workers, opts.Seed+round, stop)
		<-stop
	}
	return nil
}
