package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// `cellpay status -o json` reflects a leadership change within 2 seconds,
// and the table form names every cell and member.
func TestStatusReflectsLeadershipChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, config := startDrillCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status := func(format string) (string, int) {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"status", "--router", c.RouterAddr("hz-b"), "-o", format}, &out, &errOut)
		if code != exitOK {
			t.Fatalf("status exited %d: %s", code, errOut.String())
		}
		return out.String(), code
	}
	table, _ := status("table")
	for _, want := range []string{"hz-a-1", "sh-a-1", "router-hz-b", "CELL", "alive"} {
		if !strings.Contains(table, want) {
			t.Errorf("table output lacks %q:\n%s", want, table)
		}
	}
	// The failover controller keeps leaders where they belong, so a hand
	// move would be undone: move cell 2 (home hz-b) with a move drill.
	target := "sh-a-1"
	var out, errOut bytes.Buffer
	t.Setenv(tokenEnv, drillToken)
	if code := run(ctx, []string{"drill", "move", "--cell", "2", "--to", "sh-a", "--config", config, "--yes"}, &out, &errOut); code != exitOK {
		t.Fatalf("drill move exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	moved := time.Now()
	for {
		out, _ := status("json")
		var st pb.ClusterStatus
		if err := protojson.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -o json is not a ClusterStatus: %v\n%s", err, out)
		}
		var got string
		for _, cs := range st.GetCells() {
			if cs.GetCellId() == 2 {
				got = cs.GetLeaderNodeId()
			}
		}
		if got == target {
			if len(st.GetEvents()) == 0 {
				t.Errorf("status -o json shows no failover events after a move drill")
			}
			return
		}
		if time.Since(moved) > 2*time.Second {
			t.Fatalf("status still shows leader %q of cell 2, 2 s after the move to %s", got, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStatusWithoutRouterIsUnhealthy(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"status", "--router", "127.0.0.1:1", "--timeout", "500ms", "--insecure"}, &out, &errOut)
	if code != exitUnhealthy || !strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q; want %d naming the router", code, errOut.String(), exitUnhealthy)
	}
}
