package topology

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	demoFile    = "../../deploy/topologies/demo.yaml"
	minimalFile = "../../deploy/topologies/minimal.yaml"
)

func loadFile(t testing.TB, path string) *Topology {
	t.Helper()
	topo, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return topo
}

func TestDeployFilesAreValid(t *testing.T) {
	for _, path := range []string{demoFile, minimalFile} {
		topo := loadFile(t, path)
		if err := topo.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", path, err)
		}
	}
}

// TestDemoFile checks the shape the demo promises in its comments.
func TestDemoFile(t *testing.T) {
	topo := loadFile(t, demoFile)
	if topo.Environment() != "demo" {
		t.Errorf("environment = %q, want demo", topo.Environment())
	}
	wantSites := []Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}}
	if got := topo.Sites(); !slices.Equal(got, wantSites) {
		t.Errorf("sites = %v, want %v", got, wantSites)
	}
	if got := topo.RTT("hz-a", "hz-b"); got != 2*time.Millisecond {
		t.Errorf("RTT(hz-a, hz-b) = %s, want 2ms", got)
	}
	if got := topo.RTT("sh-a", "hz-b"); got != 30*time.Millisecond {
		t.Errorf("RTT(sh-a, hz-b) = %s, want 30ms", got)
	}
	cells := topo.Cells()
	if len(cells) != 12 {
		t.Fatalf("%d cells, want 12", len(cells))
	}
	homed := map[string]int{}
	leads := map[string]int{} // node -> cells it leads when all is well
	for i, cell := range cells {
		homed[cell.Home]++
		wantSlots := 341
		if i < 4 {
			wantSlots = 342
		}
		if len(cell.Slots) != 1 || cell.Slots[0].Len() != wantSlots {
			t.Errorf("cell %d slots %v, want one range of %d", cell.ID, cell.Slots, wantSlots)
		}
		sites := map[string]bool{}
		for _, id := range cell.Replicas {
			node, _ := topo.Node(id)
			sites[node.Site] = true
			if node.Site == cell.Home {
				leads[id]++
			}
		}
		if len(cell.Replicas) != 3 || len(sites) != 3 {
			t.Errorf("cell %d replicas %v, want one in each site", cell.ID, cell.Replicas)
		}
	}
	for _, site := range wantSites {
		if homed[site.ID] != 4 {
			t.Errorf("site %s homes %d cells, want 4", site.ID, homed[site.ID])
		}
		nodes := topo.NodesOfSite(site.ID)
		if len(nodes) != 2 {
			t.Errorf("site %s has %d nodes, want 2", site.ID, len(nodes))
		}
		for _, node := range nodes {
			if n := len(topo.CellsOfNode(node.ID)); n != 6 {
				t.Errorf("node %s holds %d replicas, want 6", node.ID, n)
			}
			if leads[node.ID] != 2 {
				t.Errorf("node %s is the home replica of %d cells, want 2", node.ID, leads[node.ID])
			}
		}
	}
	for i, node := range topo.Nodes() {
		wantRaft, wantClient := "127.0.0.1:710"+string(rune('1'+i)), "127.0.0.1:720"+string(rune('1'+i))
		if node.RaftAddr != wantRaft || node.ClientAddr != wantClient {
			t.Errorf("node %s addresses %s %s, want %s %s", node.ID, node.RaftAddr, node.ClientAddr, wantRaft, wantClient)
		}
	}
}

func TestMinimalFile(t *testing.T) {
	topo := loadFile(t, minimalFile)
	if topo.Environment() != "test" || len(topo.Sites()) != 3 || len(topo.Nodes()) != 3 || len(topo.Cells()) != 1 {
		t.Fatalf("minimal: environment %q, %d sites, %d nodes, %d cells; want test, 3, 3, 1",
			topo.Environment(), len(topo.Sites()), len(topo.Nodes()), len(topo.Cells()))
	}
	cell := topo.Cells()[0]
	if cell.ID != 1 || cell.Home != "hz-a" || !slices.Equal(cell.Slots, []SlotRange{{0, Slots - 1}}) {
		t.Errorf("cell = %+v, want cell 1 homed at hz-a owning every slot", cell)
	}
}

func TestParseDecodeErrors(t *testing.T) {
	valid, err := os.ReadFile(minimalFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"empty", "", []string{"file is empty"}},
		{"only comments", "# nothing\n", []string{"file is empty"}},
		{"unknown top-level field", "environment: test\nenvirnoment: prod\n", []string{`line 2: unknown field "envirnoment" in a topology`}},
		{"unknown fields everywhere", strings.Replace(strings.Replace(string(valid),
			"region: hangzhou}", "region: hangzhou, zone: 1}", 1),
			"slots:", "slot:", 1), []string{
			`line 9: unknown field "zone" in a site`,
			`line 24: unknown field "slot" in a cell`,
		}},
		{"duplicate field", "environment: test\nenvironment: prod\n", []string{`line 2: mapping key "environment" already defined at line 1`}},
		{"wrong type", "cells:\n  - {id: one}\n", []string{"line 2: cannot unmarshal !!str `one` into uint64"}},
		{"negative cell id", "cells:\n  - {id: -1}\n", []string{"line 2: cannot unmarshal !!int `-1` into uint64"}},
		{"list expected", "sites: hz-a\n", []string{"line 1: cannot unmarshal !!str `hz-a` into a list of sites"}},
		{"syntax", "sites: [\n", []string{"line 1: did not find expected node content"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1: cannot unmarshal !!seq into a topology"}},
		{"two documents", string(valid) + "---\nenvironment: prod\n", []string{"file holds more than one YAML document"}},
		{"too big", string(valid) + strings.Repeat("#", FileSizeMax), []string{"file is 4195326 bytes, more than the 4194304 (4 MiB) allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := Parse([]byte(tt.data))
			if topo != nil {
				t.Errorf("Parse returned a topology with error %v", err)
			}
			got := violationStrings(t, err)
			if tt.name == "too big" {
				tt.want[0] = strings.Replace(tt.want[0], "4195326", strconv.Itoa(len(tt.data)), 1)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestParseNullDocumentIsValidatedNotDecoded(t *testing.T) {
	_, err := Parse([]byte("~\n"))
	got := violationStrings(t, err)
	want := []string{
		"environment: missing",
		"sites: empty: a topology needs at least one site",
		"nodes: empty: a topology needs at least one node",
		"cells: empty: a topology needs at least one cell",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations = %q, want %q", got, want)
	}
}

func TestParseAcceptsUnquotedSlots(t *testing.T) {
	data, err := os.ReadFile(minimalFile)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`slots: ["0-4095"]`), []byte(`slots: [0-16, 17, "18-4095"]`), 1)
	topo, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.Cells()[0].Slots; !slices.Equal(got, []SlotRange{{0, 16}, {17, 17}, {18, 4095}}) {
		t.Errorf("slots = %v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()

	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist and not ErrInvalid", err)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "topology: ") {
		t.Errorf("missing file: error %q lacks the package prefix", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, FileSizeMax+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "file is 4194305 bytes, more than the 4194304 (4 MiB) allowed") {
		t.Errorf("big file: err = %v", err)
	}

	if _, err := Load(dir); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("directory: err = %v, want an I/O error", err)
	}
}

func TestCheckEnvironment(t *testing.T) {
	topo := loadFile(t, demoFile)
	if err := topo.CheckEnvironment("demo"); err != nil {
		t.Errorf("CheckEnvironment(demo) = %v", err)
	}
	err := topo.CheckEnvironment("prod")
	if !errors.Is(err, ErrWrongEnvironment) {
		t.Fatalf("CheckEnvironment(prod) = %v, want ErrWrongEnvironment", err)
	}
	if want := `topology: wrong environment: the topology is for environment "demo", but this process runs in environment "prod"`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	err = topo.CheckEnvironment("")
	if err == nil || errors.Is(err, ErrWrongEnvironment) || !strings.Contains(err.Error(), "no environment") {
		t.Errorf("CheckEnvironment(\"\") = %v, want a missing-environment error", err)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	topo := loadFile(t, demoFile)
	spec := topo.Spec()
	again, err := New(spec)
	if err != nil {
		t.Fatalf("New(Spec()): %v", err)
	}
	if !slices.EqualFunc(topo.Cells(), again.Cells(), equalCells) || !slices.Equal(topo.Nodes(), again.Nodes()) ||
		again.RTT("hz-a", "sh-a") != 30*time.Millisecond {
		t.Errorf("New(Spec()) differs from the original")
	}

	// Rewriting addresses, as an in-process cluster with ephemeral ports
	// does, leaves the original alone.
	spec.Nodes[0].RaftAddr = "127.0.0.1:40001"
	spec.Cells[0].Replicas[0] = "hz-a-2"
	spec.Cells[0].Slots[0].Last = 0
	moved, err := New(spec)
	if err == nil {
		t.Fatalf("New accepted a spec with unowned slots: %v", moved)
	}
	spec.Cells[0].Slots[0].Last = 341
	moved, err = New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := moved.Node("hz-a-1"); n.RaftAddr != "127.0.0.1:40001" {
		t.Errorf("moved node addr = %s", n.RaftAddr)
	}
	if n, _ := topo.Node("hz-a-1"); n.RaftAddr != "127.0.0.1:7101" {
		t.Errorf("original changed: node addr = %s", n.RaftAddr)
	}
	if c, _ := topo.Cell(1); c.Replicas[0] != "hz-a-1" {
		t.Errorf("original changed: cell 1 replicas = %v", c.Replicas)
	}
	if err := topo.Validate(); err != nil {
		t.Errorf("original no longer validates: %v", err)
	}
}

func equalCells(a, b Cell) bool {
	return a.ID == b.ID && a.Home == b.Home && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.Slots, b.Slots)
}

// Encode writes what Parse reads back as the same topology, and a spec
// with a violation encodes to a file Parse refuses with it.
func TestEncodeRoundTrip(t *testing.T) {
	topo := loadFile(t, demoFile)
	data, err := Encode(topo.Spec())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Encode(spec)): %v\n%s", err, data)
	}
	if !slices.EqualFunc(topo.Cells(), again.Cells(), equalCells) || !slices.Equal(topo.Nodes(), again.Nodes()) ||
		!slices.Equal(topo.Sites(), again.Sites()) || again.RTT("hz-a", "sh-a") != topo.RTT("hz-a", "sh-a") {
		t.Errorf("Parse(Encode(spec)) differs from the original:\n%s", data)
	}
	bad := topo.Spec()
	bad.Cells[0].Home = "nowhere"
	data, err = Encode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("Parse of an encoded bad spec: %v", err)
	}
}
