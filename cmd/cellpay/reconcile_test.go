package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/reconcile"
)

func TestReconcileUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reconcile"}, "--config is required"},
		{[]string{"reconcile", "--config", "x.yaml", "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"reconcile", "--config", "x.yaml", "--since", "-1h"}, "must not be negative"},
		{[]string{"reconcile", "--config", "x.yaml", "--timeout", "0s"}, "--timeout must be positive"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	if s, err := parseSince("2026-12-01T14:00:00Z", time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)); err != nil || s.Hour() != 14 {
		t.Fatalf("parseSince of an RFC 3339 time: %v, %v", s, err)
	}
}

// TestReconcileCommand: all clear on a healthy cluster (exit 0); a replica
// altered on disk is found, named, in JSON (exit 10).
func TestReconcileCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, path := startDrillCluster(t)
	code, stdout, stderr := runCLI(t, "reconcile", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "all clear") {
		t.Fatalf("reconcile of a healthy cluster: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "reconcile", "--config", path, "--cell", "99"); code != exitUsage || !strings.Contains(stderr, "--cell 99") {
		t.Fatalf("an unknown cell: exit %d, %q", code, stderr)
	}

	cell, _ := c.Topology.Cell(2)
	victim := ""
	for _, id := range cell.Replicas {
		if id != c.Leader(2) {
			victim = id
			break
		}
	}
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	forged, _ := proto.Marshal(&pb.Account{Id: "forged", Currency: "CNY", BalanceMinor: 1_000_000})
	if err := c.AlterStateOnDisk(victim, 2, []byte("a/forged"), forged); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(victim); err != nil {
		t.Fatal(err)
	}
	var rep reconcile.Report
	waitUntil(t, 60*time.Second, "the altered replica is found", func() (bool, string) {
		code, stdout, stderr := runCLI(t, "reconcile", "--config", path, "--cell", "2", "-o", "json")
		if code != exitFindings {
			return false, stderr
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("the JSON report does not decode: %v\n%s", err, stdout)
		}
		for _, f := range rep.Findings {
			if f.Kind == reconcile.ReplicaMismatch && f.CellID == 2 && strings.Contains(strings.Join(f.IDs, ","), victim) && strings.Contains(f.Detail, `"a/f"`) {
				return true, ""
			}
		}
		return false, stdout
	})
	if len(rep.Covered.Cells) != 1 || rep.Covered.Cells[0] != 2 {
		t.Fatalf("the report covered %v, want only cell 2", rep.Covered.Cells)
	}
}
