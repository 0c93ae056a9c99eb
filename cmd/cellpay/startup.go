package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/topology"
)

// flagValue is a required flag and the value it was given.
type flagValue struct{ name, value string }

// startProcess is what every long-running process (node, router) does
// first: check its required flags (all missing ones at once), build its
// logger, load the topology and refuse one meant for another environment.
func startProcess(cmd *cobra.Command, required []flagValue, logLevel, configPath, env string) (*slog.Logger, *topology.Topology, error) {
	var missing []error
	for _, f := range required {
		if f.value == "" {
			missing = append(missing, fmt.Errorf("%s is required", f.name))
		}
	}
	if len(missing) > 0 {
		return nil, nil, usageError(cmd, errors.Join(missing...))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, nil, usageError(cmd, fmt.Errorf("--log-level: %w", err))
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	topo, err := topology.Load(configPath)
	if err != nil {
		return nil, nil, configError(err)
	}
	if err := topo.CheckEnvironment(env); err != nil {
		return nil, nil, &exitError{code: exitInvalidConfig, err: err}
	}
	return logger, topo, nil
}

// configError marks an invalid configuration (exit code 3).
func configError(err error) error {
	if errors.Is(err, topology.ErrInvalid) {
		return &exitError{code: exitInvalidConfig, err: err}
	}
	return err
}
