package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FileSizeMax is the largest topology file Load and Parse accept. A real
// topology is a few kilobytes; the cap bounds the decoder's memory and time.
const FileSizeMax = 4 << 20

// Site is a datacenter.
type Site struct {
	ID     string
	Region string
	// LeadersMax is how many cell leaders the site can carry (0: no
	// limit). Drills refuse plans that would put more leaders there.
	LeadersMax int
}

// Node is one `cellpay node` process.
type Node struct {
	ID   string
	Site string
	// RaftAddr (host:port) receives node-to-node Raft traffic.
	RaftAddr string
	// ClientAddr (host:port) serves the Cell gRPC service that routers call.
	ClientAddr string
}

// Cell is a shard of accounts: one Raft group.
type Cell struct {
	ID uint64
	// Home is the site where the cell's leader should be when all is well.
	Home string
	// Replicas are the node ids of the cell's voters, in file order.
	Replicas []string
	// Slots are the slot ranges the cell owns, sorted by First.
	Slots []SlotRange
}

// SiteRTT is the round-trip time between two distinct sites.
type SiteRTT struct {
	A, B string
	RTT  time.Duration
}

// Spec is a topology as plain Go values, before validation: what New takes
// and Spec returns. In-process clusters (tests, chaos runs, the demo) build
// one, or load a file and rewrite its addresses, instead of writing YAML.
type Spec struct {
	Environment string
	Sites       []Site
	RTTs        []SiteRTT
	Nodes       []Node
	Cells       []Cell
}

// Topology is a validated topology with its lookup indexes. It is immutable
// and safe for concurrent use. Values returned by its methods share memory
// with it (e.g. Cell.Replicas): treat them as read-only.
type Topology struct {
	raw file // exactly what was validated, for Validate and Spec

	environment string
	sites       []Site // sorted by id
	nodes       []Node // sorted by id
	cells       []Cell // sorted by id
	siteIndex   map[string]int
	nodeIndex   map[string]int
	cellIndex   map[uint64]int
	rtt         [][]time.Duration // [site index][site index]
	cellRTTMax  []time.Duration   // by cell index
	nodesOfSite [][]int           // site index -> node indexes, sorted
	cellsOfNode [][]int           // node index -> cell indexes, sorted
	slotCell    [Slots]int32      // slot -> cell index
}

// file is the YAML form of a topology. Durations and slot ranges stay
// strings so that Validate reports a bad one with its field path, together
// with every other violation, instead of the decoder stopping at it.
type file struct {
	Environment string     `yaml:"environment"`
	Sites       []fileSite `yaml:"sites"`
	RTT         []fileRTT  `yaml:"rtt"`
	Nodes       []fileNode `yaml:"nodes"`
	Cells       []fileCell `yaml:"cells"`
}

type fileSite struct {
	ID         string `yaml:"id"`
	Region     string `yaml:"region"`
	LeadersMax int    `yaml:"leaders_max,omitempty"`
}

type fileRTT struct {
	Sites []string `yaml:"sites"`
	RTT   string   `yaml:"rtt"`
}

type fileNode struct {
	ID         string `yaml:"id"`
	Site       string `yaml:"site"`
	RaftAddr   string `yaml:"raft_addr"`
	ClientAddr string `yaml:"client_addr"`
}

type fileCell struct {
	ID       uint64   `yaml:"id"`
	Home     string   `yaml:"home"`
	Replicas []string `yaml:"replicas"`
	Slots    []string `yaml:"slots"`
}

// Load reads the topology file at path and parses and validates it (see
// Parse). An I/O error (e.g. a missing file, which matches fs.ErrNotExist)
// is not marked ErrInvalid: the file could not be judged.
func Load(path string) (*Topology, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > FileSizeMax {
		return nil, tooBig(info.Size())
	}
	// Read one byte past the cap: the file may have grown since Stat, or not
	// be a regular file at all.
	data, err := io.ReadAll(io.LimitReader(f, FileSizeMax+1))
	if err != nil {
		return nil, fmt.Errorf("topology: read %s: %w", path, err)
	}
	if len(data) > FileSizeMax {
		return nil, invalid(Violation{Message: fmt.Sprintf("file is larger than the %d bytes (4 MiB) allowed", FileSizeMax)})
	}
	return Parse(data)
}

// Parse decodes a topology file strictly and validates it. Every error it
// returns matches ErrInvalid and is a *ValidationError listing everything
// found: either the decoding problems (YAML syntax, unknown or duplicate
// fields, wrong types: reported alone, since a half-decoded file would
// produce misleading violations) or every violation of the rules (see
// Validate). It never panics, whatever the bytes.
func Parse(data []byte) (*Topology, error) {
	if len(data) > FileSizeMax {
		return nil, tooBig(int64(len(data)))
	}
	f, err := decode(data)
	if err != nil {
		return nil, err
	}
	return check(f)
}

// New validates spec like a parsed file and returns its Topology. The
// violations name the fields as a file would (sites[0].id, rtt[2].rtt,
// cells[1].slots[0]), the index being the position in spec's slices.
func New(spec Spec) (*Topology, error) { return check(fileOf(spec)) }

// fileOf is spec in the file's form.
func fileOf(spec Spec) file {
	f := file{Environment: spec.Environment}
	for _, s := range spec.Sites {
		f.Sites = append(f.Sites, fileSite{ID: s.ID, Region: s.Region, LeadersMax: s.LeadersMax})
	}
	for _, r := range spec.RTTs {
		f.RTT = append(f.RTT, fileRTT{Sites: []string{r.A, r.B}, RTT: r.RTT.String()})
	}
	for _, n := range spec.Nodes {
		f.Nodes = append(f.Nodes, fileNode(n))
	}
	for _, c := range spec.Cells {
		fc := fileCell{ID: c.ID, Home: c.Home, Replicas: append([]string(nil), c.Replicas...)}
		for _, r := range c.Slots {
			fc.Slots = append(fc.Slots, r.String())
		}
		f.Cells = append(f.Cells, fc)
	}
	return f
}

// Spec returns a deep copy of the topology as plain values, in the order of
// its file, e.g. to change some addresses and pass it to New.
func (t *Topology) Spec() Spec {
	spec := Spec{Environment: t.raw.Environment}
	for _, s := range t.raw.Sites {
		spec.Sites = append(spec.Sites, Site(s))
	}
	for _, r := range t.raw.RTT {
		d, _ := time.ParseDuration(r.RTT) // validated
		spec.RTTs = append(spec.RTTs, SiteRTT{A: r.Sites[0], B: r.Sites[1], RTT: d})
	}
	for _, n := range t.raw.Nodes {
		spec.Nodes = append(spec.Nodes, Node(n))
	}
	for _, fc := range t.raw.Cells {
		c := Cell{ID: fc.ID, Home: fc.Home, Replicas: append([]string(nil), fc.Replicas...)}
		for _, s := range fc.Slots {
			r, _ := parseSlotRange(s) // validated
			c.Slots = append(c.Slots, r)
		}
		spec.Cells = append(spec.Cells, c)
	}
	return spec
}

// Environment returns the environment the topology is for (e.g. "prod").
func (t *Topology) Environment() string { return t.environment }

// ErrWrongEnvironment marks the error of CheckEnvironment when the topology
// is meant for another environment than the process's.
var ErrWrongEnvironment = errors.New("topology: wrong environment")

// CheckEnvironment returns an error unless the topology is for environment
// want, the environment the calling process was told it runs in (e.g. by
// --env). An empty want is an error too: every process must say where it
// runs, so that a test topology can never drive a production process.
func (t *Topology) CheckEnvironment(want string) error {
	if want == "" {
		return errors.New("topology: no environment to check against: the process must be told which environment it runs in")
	}
	if want != t.environment {
		return fmt.Errorf("%w: the topology is for environment %s, but this process runs in environment %s",
			ErrWrongEnvironment, quote(t.environment), quote(want))
	}
	return nil
}

func tooBig(size int64) error {
	return invalid(Violation{Message: fmt.Sprintf("file is %d bytes, more than the %d (4 MiB) allowed", size, FileSizeMax)})
}

// decode decodes data strictly into a file.
func decode(data []byte) (f file, err error) {
	// yaml.v3 turns its own failures into errors; anything else it panics
	// with is a bug in it that a hostile file could trigger. A process
	// loading its configuration must fail with an error, not crash.
	defer func() {
		if p := recover(); p != nil {
			err = invalid(Violation{Message: fmt.Sprintf("YAML decoder failed: %v", p)})
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&f); {
	case errors.Is(err, io.EOF):
		return file{}, invalid(Violation{Message: "file is empty"})
	case err != nil:
		return file{}, decodeError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return file{}, invalid(Violation{Message: "file holds more than one YAML document"})
	}
	return f, nil
}

var (
	// yaml.v3's messages: "line 12: field replica not found in type
	// topology.fileCell" and "line 3: cannot unmarshal ...".
	yamlLine         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownField = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	yamlTypeNames    = strings.NewReplacer(
		"[]topology.fileSite", "a list of sites",
		"[]topology.fileRTT", "a list of round-trip times",
		"[]topology.fileNode", "a list of nodes",
		"[]topology.fileCell", "a list of cells",
		"topology.fileSite", "a site",
		"topology.fileRTT", "a round-trip time",
		"topology.fileNode", "a node",
		"topology.fileCell", "a cell",
		"topology.file", "a topology",
	)
)

// decodeError turns a yaml.v3 error into a ValidationError whose violations
// are "line N: message", one per problem yaml.v3 reported.
func decodeError(err error) error {
	var messages []string
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		messages = te.Errors
	} else {
		messages = []string{err.Error()}
	}
	var v violations
	for _, m := range messages {
		path := ""
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			path, m = "line "+sub[1], sub[2]
		}
		m = strings.TrimPrefix(m, "yaml: ")
		if sub := yamlUnknownField.FindStringSubmatch(m); sub != nil {
			m = fmt.Sprintf("unknown field %s in %s", quote(sub[1]), yamlTypeNames.Replace(sub[2]))
		} else {
			m = yamlTypeNames.Replace(m)
		}
		v.add(path, "%s", m)
	}
	return v.err()
}
