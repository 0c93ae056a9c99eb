package demo

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/cellpay/cellpay/cell/topology"
)

// The topology file of the interactive cluster, for the commands that read
// one (cellpay drill, cellpay reconcile): the YAML form topology.Load
// reads, written from the cluster's Spec.

type yamlTopology struct {
	Environment string     `yaml:"environment"`
	Sites       []yamlSite `yaml:"sites"`
	RTT         []yamlRTT  `yaml:"rtt"`
	Nodes       []yamlNode `yaml:"nodes"`
	Cells       []yamlCell `yaml:"cells"`
}

type yamlSite struct {
	ID         string `yaml:"id"`
	Region     string `yaml:"region"`
	LeadersMax int    `yaml:"leaders_max,omitempty"`
}

type yamlRTT struct {
	Sites []string `yaml:"sites,flow"`
	RTT   string   `yaml:"rtt"`
}

type yamlNode struct {
	ID         string `yaml:"id"`
	Site       string `yaml:"site"`
	RaftAddr   string `yaml:"raft_addr"`
	ClientAddr string `yaml:"client_addr"`
}

type yamlCell struct {
	ID       uint64   `yaml:"id"`
	Home     string   `yaml:"home"`
	Replicas []string `yaml:"replicas,flow"`
	Slots    []string `yaml:"slots,flow"`
}

// writeTopology writes spec to path as a topology file.
func writeTopology(path string, spec topology.Spec) error {
	f := yamlTopology{Environment: spec.Environment}
	for _, s := range spec.Sites {
		f.Sites = append(f.Sites, yamlSite{ID: s.ID, Region: s.Region, LeadersMax: s.LeadersMax})
	}
	for _, r := range spec.RTTs {
		f.RTT = append(f.RTT, yamlRTT{Sites: []string{r.A, r.B}, RTT: r.RTT.String()})
	}
	for _, n := range spec.Nodes {
		f.Nodes = append(f.Nodes, yamlNode{ID: n.ID, Site: n.Site, RaftAddr: n.RaftAddr, ClientAddr: n.ClientAddr})
	}
	for _, c := range spec.Cells {
		yc := yamlCell{ID: c.ID, Home: c.Home, Replicas: c.Replicas}
		for _, r := range c.Slots {
			yc.Slots = append(yc.Slots, r.String())
		}
		f.Cells = append(f.Cells, yc)
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("demo: encode the topology: %w", err)
	}
	header := "# The topology of a running `cellpay demo --interactive` cluster (environment test).\n"
	if err := os.WriteFile(path, append([]byte(header), data...), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
