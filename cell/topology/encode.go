package topology

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Encode is spec as a topology file, the YAML form Parse reads (durations
// and slot ranges in their text form). It does not validate: Parse of the
// result reports what is wrong with spec.
func Encode(spec Spec) ([]byte, error) {
	f := file{Environment: spec.Environment}
	for _, s := range spec.Sites {
		f.Sites = append(f.Sites, fileSite{ID: s.ID, Region: s.Region, LeadersMax: s.LeadersMax})
	}
	for _, r := range spec.RTTs {
		f.RTT = append(f.RTT, fileRTT{Sites: []string{r.A, r.B}, RTT: r.RTT.String()})
	}
	for _, n := range spec.Nodes {
		f.Nodes = append(f.Nodes, fileNode{ID: n.ID, Site: n.Site, RaftAddr: n.RaftAddr, ClientAddr: n.ClientAddr})
	}
	for _, c := range spec.Cells {
		fc := fileCell{ID: c.ID, Home: c.Home, Replicas: c.Replicas}
		for _, r := range c.Slots {
			fc.Slots = append(fc.Slots, r.String())
		}
		f.Cells = append(f.Cells, fc)
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("topology: encode: %w", err)
	}
	return data, nil
}
