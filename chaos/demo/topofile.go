package demo

import (
	"fmt"
	"os"

	"github.com/cellpay/cellpay/cell/topology"
)

// The topology file of the interactive cluster, for the commands that read
// one (cellpay drill, cellpay reconcile): the YAML form topology.Load
// reads, written from the cluster's Spec.

// writeTopology writes spec to path as a topology file.
func writeTopology(path string, spec topology.Spec) error {
	data, err := topology.Encode(spec)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	header := "# The topology of a running `cellpay demo --interactive` cluster (environment test).\n"
	if err := os.WriteFile(path, append([]byte(header), data...), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
