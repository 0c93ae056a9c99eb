package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseFile is a valid topology for the rule tests to break: three sites,
// four nodes (two in hz-a), two cells splitting the slots.
func baseFile() file {
	return file{
		Environment: "test",
		Sites: []fileSite{
			{ID: "hz-a", Region: "hangzhou"},
			{ID: "hz-b", Region: "hangzhou"},
			{ID: "sh-a", Region: "shanghai"},
		},
		RTT: []fileRTT{
			{Sites: []string{"hz-a", "hz-b"}, RTT: "2ms"},
			{Sites: []string{"hz-a", "sh-a"}, RTT: "30ms"},
			{Sites: []string{"hz-b", "sh-a"}, RTT: "30ms"},
		},
		Nodes: []fileNode{
			{ID: "hz-a-1", Site: "hz-a", RaftAddr: "127.0.0.1:7101", ClientAddr: "127.0.0.1:7201"},
			{ID: "hz-b-1", Site: "hz-b", RaftAddr: "127.0.0.1:7102", ClientAddr: "127.0.0.1:7202"},
			{ID: "sh-a-1", Site: "sh-a", RaftAddr: "127.0.0.1:7103", ClientAddr: "127.0.0.1:7203"},
			{ID: "hz-a-2", Site: "hz-a", RaftAddr: "127.0.0.1:7104", ClientAddr: "127.0.0.1:7204"},
		},
		Cells: []fileCell{
			{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"0-2047"}},
			{ID: 2, Home: "hz-b", Replicas: []string{"hz-a-2", "hz-b-1", "sh-a-1"}, Slots: []string{"2048-4095"}},
		},
	}
}

// addSite adds a site with its round-trip times to every other site.
func addSite(f *file, id, region string) {
	for _, s := range f.Sites {
		f.RTT = append(f.RTT, fileRTT{Sites: []string{s.ID, id}, RTT: "40ms"})
	}
	f.Sites = append(f.Sites, fileSite{ID: id, Region: region})
}

// addNode adds a node with fresh addresses.
func addNode(f *file, id, site string) {
	n := len(f.Nodes) + 1
	f.Nodes = append(f.Nodes, fileNode{ID: id, Site: site,
		RaftAddr: fmt.Sprintf("10.0.%d.%d:7101", n/250, n%250), ClientAddr: fmt.Sprintf("10.0.%d.%d:7201", n/250, n%250)})
}

func violationStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError", err)
	}
	var got []string
	for _, v := range ve.Violations {
		got = append(got, v.String())
	}
	return got
}

func TestValidateBaseIsValid(t *testing.T) {
	topo, err := check(baseFile())
	if err != nil {
		t.Fatalf("base file: %v", err)
	}
	if err := topo.Validate(); err != nil {
		t.Fatalf("Validate of a checked topology: %v", err)
	}
}

// TestValidateRules breaks one rule per case. When exact, the violations
// must be exactly want (so one mistake gives no cascade of noise);
// otherwise want must be among them.
func TestValidateRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		mutate func(f *file)
		want   []string
		// partial: want is a subset (the break cascades by nature).
		partial bool
	}{
		// environment
		{"environment missing", func(f *file) { f.Environment = "" }, []string{"environment: missing"}, false},
		{"environment bad character", func(f *file) { f.Environment = "Prod" }, []string{`environment: "Prod": character 'P' is not one of [a-z0-9-]`}, false},
		{"environment underscore", func(f *file) { f.Environment = "pre_prod" }, []string{`environment: "pre_prod": character '_' is not one of [a-z0-9-]`}, false},
		{"environment too long", func(f *file) { f.Environment = long(33) }, []string{`environment: "` + long(33) + `" is 33 characters long, more than 32`}, false},
		{"environment 32 long is fine", func(f *file) { f.Environment = long(32) }, nil, false},

		// sites
		{"no sites", func(f *file) { f.Sites, f.RTT = nil, nil },
			[]string{"sites: empty: a topology needs at least one site", `nodes[0].site: unknown site "hz-a"`, `cells[0].home: unknown site "hz-a"`}, true},
		{"too many sites", func(f *file) {
			for i := range 62 {
				f.Sites = append(f.Sites, fileSite{ID: fmt.Sprintf("x-%d", i), Region: "x"})
			}
		}, []string{"sites: 65 sites, more than 64"}, false},
		{"site id bad character", func(f *file) { addSite(f, "bj_a", "beijing") }, []string{`sites[3].id: "bj_a": character '_' is not one of [a-z0-9-]`}, false},
		{"site id too long", func(f *file) { addSite(f, long(33), "beijing") }, []string{`sites[3].id: "` + long(33) + `" is 33 characters long, more than 32`}, false},
		{"site id missing", func(f *file) { f.Sites = append(f.Sites, fileSite{Region: "beijing"}) }, []string{"sites[3].id: missing"}, false},
		{"site id duplicate", func(f *file) { f.Sites = append(f.Sites, fileSite{ID: "hz-a", Region: "beijing"}) },
			[]string{`sites[3].id: "hz-a" is already used by sites[0]`}, false},
		{"region missing", func(f *file) { f.Sites[0].Region = "" }, []string{"sites[0].region: missing"}, false},
		{"region bad character", func(f *file) { f.Sites[0].Region = "Hangzhou" }, []string{`sites[0].region: "Hangzhou": character 'H' is not one of [a-z0-9-]`}, false},
		{"site without nodes is fine", func(f *file) { addSite(f, "bj-a", "beijing") }, nil, false},
		{"leaders_max negative", func(f *file) { f.Sites[1].LeadersMax = -1 }, []string{"sites[1].leaders_max: -1 is negative (0 means no limit)"}, false},
		{"leaders_max set is fine", func(f *file) { f.Sites[1].LeadersMax = 8 }, nil, false},

		// rtt
		{"rtt pair missing", func(f *file) { f.RTT = f.RTT[:2] }, []string{"rtt: no round-trip time for sites hz-b and sh-a"}, false},
		{"rtt all missing", func(f *file) { f.RTT = nil }, []string{
			"rtt: no round-trip time for sites hz-a and hz-b",
			"rtt: no round-trip time for sites hz-a and sh-a",
			"rtt: no round-trip time for sites hz-b and sh-a",
		}, false},
		{"rtt pair listed twice", func(f *file) { f.RTT[1] = fileRTT{Sites: []string{"hz-b", "hz-a"}, RTT: "2ms"} },
			[]string{"rtt[1]: pair hz-b/hz-a listed twice (first at rtt[0])", "rtt: no round-trip time for sites hz-a and sh-a"}, false},
		{"rtt pair listed thrice", func(f *file) {
			f.RTT = append(f.RTT, fileRTT{Sites: []string{"sh-a", "hz-b"}, RTT: "3ms"}, fileRTT{Sites: []string{"hz-b", "sh-a"}, RTT: "3ms"})
		}, []string{"rtt[3]: pair sh-a/hz-b listed twice (first at rtt[2])", "rtt[4]: pair hz-b/sh-a listed twice (first at rtt[2])"}, false},
		{"rtt unknown site", func(f *file) { f.RTT[2].Sites[1] = "sh-b" },
			[]string{`rtt[2].sites[1]: unknown site "sh-b"`, "rtt: no round-trip time for sites hz-b and sh-a"}, false},
		{"rtt site missing", func(f *file) { f.RTT[2].Sites[0] = "" },
			[]string{"rtt[2].sites[0]: missing", "rtt: no round-trip time for sites hz-b and sh-a"}, false},
		{"rtt same site twice", func(f *file) { f.RTT[2].Sites = []string{"hz-b", "hz-b"} },
			[]string{`rtt[2].sites: "hz-b" twice: a round-trip time is between two distinct sites`, "rtt: no round-trip time for sites hz-b and sh-a"}, false},
		{"rtt three sites", func(f *file) { f.RTT[2].Sites = []string{"hz-b", "sh-a", "hz-a"} },
			[]string{"rtt[2].sites: has 3 site ids, want 2", "rtt: no round-trip time for sites hz-b and sh-a"}, false},
		{"rtt not a duration", func(f *file) { f.RTT[0].RTT = "2 ms" }, []string{`rtt[0].rtt: "2 ms": not a duration, e.g. "2ms"`}, false},
		{"rtt bare number", func(f *file) { f.RTT[0].RTT = "2" }, []string{`rtt[0].rtt: "2": not a duration, e.g. "2ms"`}, false},
		{"rtt zero", func(f *file) { f.RTT[0].RTT = "0s" }, []string{`rtt[0].rtt: "0s": must be more than 0 and at most 2s`}, false},
		{"rtt negative", func(f *file) { f.RTT[0].RTT = "-1ms" }, []string{`rtt[0].rtt: "-1ms": must be more than 0 and at most 2s`}, false},
		{"rtt too long", func(f *file) { f.RTT[0].RTT = "2001ms" }, []string{`rtt[0].rtt: "2001ms": must be more than 0 and at most 2s`}, false},
		{"rtt missing", func(f *file) { f.RTT[0].RTT = "" }, []string{"rtt[0].rtt: missing"}, false},
		{"rtt 2s is fine", func(f *file) { f.RTT[0].RTT = "2s" }, nil, false},

		// nodes
		{"no nodes", func(f *file) { f.Nodes = nil },
			[]string{"nodes: empty: a topology needs at least one node", `cells[0].replicas[0]: unknown node "hz-a-1"`}, true},
		{"too many nodes", func(f *file) {
			for i := range NodesMax + 1 - len(f.Nodes) {
				addNode(f, fmt.Sprintf("x-%d", i), "hz-a")
			}
		}, []string{"nodes: 4097 nodes, more than 4096"}, false},
		{"node site unknown", func(f *file) { f.Nodes[3].Site = "hz-c" }, []string{`nodes[3].site: unknown site "hz-c"`}, false},
		{"node site missing", func(f *file) { f.Nodes[3].Site = "" }, []string{"nodes[3].site: missing"}, false},
		{"node id duplicate", func(f *file) { f.Nodes[3].ID = "hz-a-1" },
			[]string{`nodes[3].id: "hz-a-1" is already used by nodes[0]`, `cells[1].replicas[0]: unknown node "hz-a-2"`}, false},
		{"node id missing", func(f *file) { addNode(f, "", "hz-a") }, []string{"nodes[4].id: missing"}, false},
		{"node id too long", func(f *file) { addNode(f, long(65), "hz-a") }, []string{`nodes[4].id: "` + long(65) + `" is 65 characters long, more than 64`}, false},
		{"node id 64 long is fine", func(f *file) { addNode(f, long(64), "hz-a") }, nil, false},
		{"node id bad character", func(f *file) { addNode(f, "hz-a.3", "hz-a") }, []string{`nodes[4].id: "hz-a.3": character '.' is not one of [a-z0-9-]`}, false},
		{"raft_addr missing", func(f *file) { f.Nodes[0].RaftAddr = "" }, []string{"nodes[0].raft_addr: missing"}, false},
		{"client_addr missing", func(f *file) { f.Nodes[0].ClientAddr = "" }, []string{"nodes[0].client_addr: missing"}, false},
		{"addr without port", func(f *file) { f.Nodes[0].RaftAddr = "127.0.0.1" },
			[]string{`nodes[0].raft_addr: "127.0.0.1": not host:port (missing port in address)`}, false},
		{"addr without host", func(f *file) { f.Nodes[0].RaftAddr = ":7101" },
			[]string{`nodes[0].raft_addr: ":7101": the host is empty; give the address other processes dial`}, false},
		{"addr port 0", func(f *file) { f.Nodes[0].ClientAddr = "127.0.0.1:0" },
			[]string{`nodes[0].client_addr: "127.0.0.1:0": port "0" is not a number in 1-65535`}, false},
		{"addr port too big", func(f *file) { f.Nodes[0].ClientAddr = "127.0.0.1:65536" },
			[]string{`nodes[0].client_addr: "127.0.0.1:65536": port "65536" is not a number in 1-65535`}, false},
		{"addr port named", func(f *file) { f.Nodes[0].ClientAddr = "127.0.0.1:http" },
			[]string{`nodes[0].client_addr: "127.0.0.1:http": port "http" is not a number in 1-65535`}, false},
		{"addr port signed", func(f *file) { f.Nodes[0].ClientAddr = "127.0.0.1:+80" },
			[]string{`nodes[0].client_addr: "127.0.0.1:+80": port "+80" is not a number in 1-65535`}, false},
		{"client_addr used by another node", func(f *file) { f.Nodes[3].ClientAddr = "127.0.0.1:7201" },
			[]string{`nodes[3].client_addr: "127.0.0.1:7201" is already used by nodes[0].client_addr`}, false},
		{"raft_addr used as another node's client_addr", func(f *file) { f.Nodes[1].RaftAddr = "127.0.0.1:7201" },
			[]string{`nodes[1].raft_addr: "127.0.0.1:7201" is already used by nodes[0].client_addr`}, false},
		{"client_addr equals own raft_addr", func(f *file) { f.Nodes[0].ClientAddr = "127.0.0.1:7101" },
			[]string{`nodes[0].client_addr: "127.0.0.1:7101" is already used by nodes[0].raft_addr`}, false},
		{"addr spelled differently", func(f *file) { f.Nodes[0].RaftAddr, f.Nodes[1].RaftAddr = "node-a:7101", "NODE-A:07101" },
			[]string{`nodes[1].raft_addr: "NODE-A:07101" is already used by nodes[0].raft_addr`}, false},
		{"addr ipv6 spelled differently", func(f *file) { f.Nodes[0].RaftAddr, f.Nodes[1].RaftAddr = "[::1]:7101", "[0:0::1]:7101" },
			[]string{`nodes[1].raft_addr: "[0:0::1]:7101" is already used by nodes[0].raft_addr`}, false},
		{"addr hostname is fine", func(f *file) { f.Nodes[0].RaftAddr = "hz-a-1.cellpay.internal:7101" }, nil, false},

		// cells
		{"no cells", func(f *file) { f.Cells = nil }, []string{"cells: empty: a topology needs at least one cell"}, false},
		{"too many cells", func(f *file) {
			for i := range CellsMax - 1 {
				f.Cells = append(f.Cells, fileCell{ID: uint64(i + 3), Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"0"}})
			}
		}, []string{"cells: 4097 cells, more than 4096", "slots: 4097 slot ranges in all cells, more than the 4096 slots"}, false},
		{"cell id 0", func(f *file) { f.Cells[1].ID = 0 }, []string{"cells[1].id: missing or 0: cell ids start at 1"}, false},
		{"cell id duplicate", func(f *file) { f.Cells[1].ID = 1 }, []string{"cells[1].id: 1 is already used by cells[0]"}, false},
		{"cell home unknown", func(f *file) { f.Cells[0].Home = "hz-c" }, []string{`cells[0].home: unknown site "hz-c"`}, false},
		{"cell home missing", func(f *file) { f.Cells[0].Home = "" }, []string{"cells[0].home: missing"}, false},
		{"cell home holds no replica", func(f *file) {
			addSite(f, "bj-a", "beijing")
			addNode(f, "bj-a-1", "bj-a")
			f.Cells[0].Home = "bj-a"
		}, []string{`cells[0].home: site "bj-a" holds no replica of the cell`}, false},
		{"cell 4 replicas", func(f *file) { f.Cells[0].Replicas = append(f.Cells[0].Replicas, "hz-a-2") },
			[]string{"cells[0].replicas: has 4 replicas, want 3 or 5", `cells[0].replicas: losing site "hz-a" leaves 2 of 4 replicas, not a majority`}, false},
		{"cell 2 replicas", func(f *file) { f.Cells[0].Replicas = []string{"hz-a-1", "hz-b-1"} }, []string{
			"cells[0].replicas: has 2 replicas, want 3 or 5",
			`cells[0].replicas: losing site "hz-a" leaves 1 of 2 replicas, not a majority`,
			`cells[0].replicas: losing site "hz-b" leaves 1 of 2 replicas, not a majority`,
		}, false},
		{"cell no replicas", func(f *file) { f.Cells[0].Replicas = nil }, []string{"cells[0].replicas: has 0 replicas, want 3 or 5"}, false},
		{"cell 5 replicas", func(f *file) {
			addNode(f, "hz-b-2", "hz-b")
			f.Cells[0].Replicas = []string{"hz-a-1", "hz-a-2", "hz-b-1", "hz-b-2", "sh-a-1"}
		}, nil, false},
		{"cell 5 replicas, 3 in one site", func(f *file) {
			addNode(f, "hz-a-3", "hz-a")
			f.Cells[0].Replicas = []string{"hz-a-1", "hz-a-2", "hz-a-3", "hz-b-1", "sh-a-1"}
		}, []string{`cells[0].replicas: losing site "hz-a" leaves 2 of 5 replicas, not a majority`}, false},
		{"cell losing a site leaves no majority", func(f *file) { f.Cells[0].Replicas = []string{"hz-a-1", "hz-a-2", "hz-b-1"} },
			[]string{`cells[0].replicas: losing site "hz-a" leaves 1 of 3 replicas, not a majority`}, false},
		{"cell replica unknown", func(f *file) { f.Cells[0].Replicas[2] = "sh-a-9" }, []string{`cells[0].replicas[2]: unknown node "sh-a-9"`}, false},
		{"cell replica listed twice", func(f *file) { f.Cells[0].Replicas[2] = "hz-a-1" },
			[]string{`cells[0].replicas[2]: node "hz-a-1" is listed twice (also replicas[0])`}, false},

		// slots
		{"cell slots empty", func(f *file) { f.Cells[1].Slots = nil },
			[]string{"cells[1].slots: empty: a cell owns at least one slot", "slots: slots 2048-4095 are owned by no cell"}, false},
		{"slot range outside", func(f *file) { f.Cells[1].Slots = []string{"2048-4095", "5000-6000"} },
			[]string{`cells[1].slots[1]: "5000-6000": slot 6000 is outside [0, 4095]`}, false},
		{"slot range ends outside", func(f *file) { f.Cells[1].Slots = []string{"2048-4096"} },
			[]string{`cells[1].slots[0]: "2048-4096": slot 4096 is outside [0, 4095]`, "slots: slots 2048-4095 are owned by no cell"}, false},
		{"slot huge", func(f *file) { f.Cells[1].Slots = []string{"2048-4095", "00123456789012345678901234"} },
			[]string{`cells[1].slots[1]: "00123456789012345678901234": slot 12345678901234567890... is outside [0, 4095]`}, false},
		{"slot range reversed", func(f *file) { f.Cells[1].Slots = []string{"4095-2048"} },
			[]string{`cells[1].slots[0]: "4095-2048": first slot 4095 is after last slot 2048`, "slots: slots 2048-4095 are owned by no cell"}, false},
		{"single slots are fine", func(f *file) { f.Cells[0].Slots = []string{"0-16", "17", "18-2047"} }, nil, false},
		{"slot owned by two cells", func(f *file) { f.Cells[1].Slots = []string{"2047-4095"} },
			[]string{"slots: slot 2047 is owned by cells 1 and 2"}, false},
		{"slots owned by two cells", func(f *file) { f.Cells[1].Slots = []string{"17-30", "2048-4095"} },
			[]string{"slots: slots 17-30 are owned by cells 1 and 2"}, false},
		{"slots owned by three cells", func(f *file) {
			f.Cells[1].Slots = []string{"17-30", "2048-4095"}
			f.Cells = append(f.Cells, fileCell{ID: 7, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"17"}})
		}, []string{"slots: slot 17 is owned by cells 1, 2 and 7", "slots: slots 18-30 are owned by cells 1 and 2"}, false},
		{"slots owned by many cells", func(f *file) {
			for i := range 6 {
				f.Cells = append(f.Cells, fileCell{ID: uint64(i + 3), Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"4095"}})
			}
		}, []string{"slots: slot 4095 is owned by cells 2, 3, 4, 5, 6 and 2 more"}, false},
		{"slots owned by no cell", func(f *file) { f.Cells[1].Slots = []string{"2048-3999"} },
			[]string{"slots: slots 4000-4095 are owned by no cell"}, false},
		{"slot owned by no cell", func(f *file) { f.Cells[1].Slots = []string{"2049-4095"} },
			[]string{"slots: slot 2048 is owned by no cell"}, false},
		{"slot listed twice in a cell", func(f *file) { f.Cells[0].Slots = []string{"0-2047", "bad", "100-200"} }, []string{
			`cells[0].slots[1]: "bad": want "first-last" or "slot", e.g. "0-1364" or "17"`,
			`cells[0].slots[2]: "100-200": slot 100 is already listed in cells[0].slots[0]`,
		}, false},
		{"too many slot ranges", func(f *file) { f.Cells[0].Slots = slices.Repeat([]string{"0"}, Slots) },
			[]string{"slots: 4097 slot ranges in all cells, more than the 4096 slots"}, false},
	}
	for _, format := range []string{"", "-", "-5", "5-", "1-2-3", " 5", "5 ", "0x10", "1e3", "٣", "5..7", "5:7"} {
		tests = append(tests, struct {
			name    string
			mutate  func(f *file)
			want    []string
			partial bool
		}{"slot format " + format, func(f *file) { f.Cells[1].Slots = []string{"2048-4095", format} },
			[]string{fmt.Sprintf(`cells[1].slots[1]: %q: want "first-last" or "slot", e.g. "0-1364" or "17"`, format)}, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := baseFile()
			tt.mutate(&f)
			_, err := check(f)
			got := violationStrings(t, err)
			if tt.partial {
				for _, w := range tt.want {
					if !slices.Contains(got, w) {
						t.Errorf("missing violation\n  %s\namong\n  %s", w, strings.Join(got, "\n  "))
					}
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestValidateReportsEverythingAtOnce: one file, many mistakes, one error.
func TestValidateReportsEverythingAtOnce(t *testing.T) {
	const broken = `
environment: Test
sites:
  - {id: hz-a, region: hangzhou}
  - {id: hz-b, region: hangzhou}
  - {id: sh-a, region: shanghai}
  - {id: hz-a, region: hangzhou}
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-b, hz-a], rtt: 2ms}
  - {sites: [hz-b, sh-a], rtt: fast}
nodes:
  - {id: hz-a-1, site: hz-a, raft_addr: 127.0.0.1:7101, client_addr: 127.0.0.1:7201}
  - {id: hz-b-1, site: hz-b, raft_addr: 127.0.0.1:7102, client_addr: 127.0.0.1:7202}
  - {id: hz-c-1, site: hz-c, raft_addr: 127.0.0.1:7103, client_addr: 127.0.0.1:7203}
  - {id: sh-a-1, site: sh-a, raft_addr: 127.0.0.1:7104, client_addr: 127.0.0.1:7201}
  - {id: sh-a-2, site: sh-a, raft_addr: 127.0.0.1, client_addr: 127.0.0.1:99999}
cells:
  - {id: 1, home: hz-a, replicas: [hz-a-1, hz-b-1, sh-a-1], slots: ["0-1364"]}
  - {id: 2, home: hz-b, replicas: [hz-a-1, hz-b-1, sh-a-9], slots: ["1360-2000", "5000-6000"]}
  - {id: 3, home: hz-a, replicas: [hz-a-1, hz-b-1], slots: ["2001-3999"]}
  - {id: 4, home: sh-a, replicas: [hz-a-1, hz-b-1, hz-b-1], slots: []}
`
	_, err := Parse([]byte(broken))
	got := violationStrings(t, err)
	want := []string{
		`environment: "Test": character 'T' is not one of [a-z0-9-]`,
		`sites[3].id: "hz-a" is already used by sites[0]`,
		"rtt[1]: pair hz-b/hz-a listed twice (first at rtt[0])",
		`rtt[2].rtt: "fast": not a duration, e.g. "2ms"`,
		"rtt: no round-trip time for sites hz-a and sh-a",
		`nodes[2].site: unknown site "hz-c"`,
		`nodes[3].client_addr: "127.0.0.1:7201" is already used by nodes[0].client_addr`,
		`nodes[4].raft_addr: "127.0.0.1": not host:port (missing port in address)`,
		`nodes[4].client_addr: "127.0.0.1:99999": port "99999" is not a number in 1-65535`,
		`cells[1].replicas[2]: unknown node "sh-a-9"`,
		`cells[1].slots[1]: "5000-6000": slot 6000 is outside [0, 4095]`,
		"cells[2].replicas: has 2 replicas, want 3 or 5",
		`cells[2].replicas: losing site "hz-a" leaves 1 of 2 replicas, not a majority`,
		`cells[2].replicas: losing site "hz-b" leaves 1 of 2 replicas, not a majority`,
		`cells[3].replicas[2]: node "hz-b-1" is listed twice (also replicas[1])`,
		"cells[3].slots: empty: a cell owns at least one slot",
		"slots: slots 1360-1364 are owned by cells 1 and 2",
		"slots: slots 4000-4095 are owned by no cell",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The error prints one violation per line, each with the prefix.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, line := range lines {
		if line != "topology: "+want[i] {
			t.Errorf("line %d = %q, want %q", i, line, "topology: "+want[i])
		}
	}
}

func TestValidateCapsViolations(t *testing.T) {
	f := baseFile()
	for i := range 2 * ViolationsMax {
		f.Nodes = append(f.Nodes, fileNode{ID: fmt.Sprintf("bad-%d", i), Site: "nowhere", RaftAddr: "127.0.0.1:7101", ClientAddr: "x"})
	}
	_, err := check(f)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	if len(ve.Violations) != ViolationsMax || ve.Omitted != 3*2*ViolationsMax-ViolationsMax {
		t.Fatalf("got %d violations and %d omitted, want %d and %d", len(ve.Violations), ve.Omitted, ViolationsMax, 5*ViolationsMax)
	}
	if !strings.HasSuffix(err.Error(), fmt.Sprintf("\ntopology: and %d more violations", ve.Omitted)) {
		t.Errorf("error does not end with the count of omitted violations")
	}
}

// TestValidateHostileSizesAreCheap: the largest lists the limits allow
// validate quickly.
func TestValidateHostileSizesAreCheap(t *testing.T) {
	f := baseFile()
	f.Cells = nil
	for i := range CellsMax {
		// Every cell claims every slot: the worst case of the owner check.
		f.Cells = append(f.Cells, fileCell{ID: uint64(i + 1), Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"0-4095"}})
	}
	start := time.Now()
	_, err := check(f)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("validating %d cells took %s", CellsMax, elapsed)
	}
	got := violationStrings(t, err)
	want := "slots: slots 0-4095 are owned by cells 1, 2, 3, 4, 5 and 4091 more"
	if !slices.Equal(got, []string{want}) {
		t.Errorf("violations = %q, want %q", got, want)
	}
}

// TestValidateHostileListsAreCheap: huge lists of sites and cells (far
// beyond the limits, as a 4 MiB file can hold) do not multiply.
func TestValidateHostileListsAreCheap(t *testing.T) {
	f := baseFile()
	for i := range 50_000 {
		f.Sites = append(f.Sites, fileSite{ID: fmt.Sprintf("s-%d", i), Region: "r"})
	}
	for i := range 50_000 {
		f.Cells = append(f.Cells, fileCell{ID: uint64(i + 3), Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []string{"0"}})
	}
	start := time.Now()
	_, err := check(f)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("validating took %s", elapsed)
	}
	got := violationStrings(t, err)
	want := []string{"sites: 50003 sites, more than 64", "cells: 50002 cells, more than 4096", "slots: 50002 slot ranges in all cells, more than the 4096 slots"}
	if !slices.Equal(got, want) {
		t.Errorf("violations = %q, want %q", got, want)
	}
}

func TestNewReportsSpecViolations(t *testing.T) {
	spec := Spec{
		Environment: "test",
		Sites:       []Site{{ID: "a", Region: "r"}, {ID: "b", Region: "r"}, {ID: "c", Region: "r"}},
		RTTs:        []SiteRTT{{A: "a", B: "b", RTT: time.Millisecond}, {A: "a", B: "c", RTT: 0}, {A: "b", B: "c", RTT: time.Millisecond}},
		Nodes: []Node{
			{ID: "a-1", Site: "a", RaftAddr: "h:1", ClientAddr: "h:2"},
			{ID: "b-1", Site: "b", RaftAddr: "h:3", ClientAddr: "h:4"},
			{ID: "c-1", Site: "c", RaftAddr: "h:5", ClientAddr: "h:6"},
		},
		Cells: []Cell{{ID: 1, Home: "a", Replicas: []string{"a-1", "b-1", "c-1"}, Slots: []SlotRange{{0, 4000}, {4001, 4096}}}},
	}
	_, err := New(spec)
	got := violationStrings(t, err)
	want := []string{
		`rtt[1].rtt: "0s": must be more than 0 and at most 2s`,
		`cells[0].slots[1]: "4001-4096": slot 4096 is outside [0, 4095]`,
		"slots: slots 4001-4095 are owned by no cell",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	spec.RTTs[1].RTT = 30 * time.Millisecond
	spec.Cells[0].Slots[1].Last = 4095
	if _, err := New(spec); err != nil {
		t.Fatalf("fixed spec: %v", err)
	}
}
