package failover

import (
	"fmt"
	"sort"
)

// Plan lists every move that state st would cause now, without the limits
// on moves under way (a drill's dry run shows the whole plan). With
// ignoreHoldDown, home sites are ready at once (a failback drill).
func Plan(cfg Config, st State, in Input, ignoreHoldDown bool) ([]Move, []Hold) {
	sites := append([]Site(nil), in.Sites...)
	sort.Slice(sites, func(i, j int) bool { return sites[i].ID < sites[j].ID })
	n := len(in.Cells) + len(in.Moving) + 1
	return place(cfg, st, in, sites, limits{failback: n, other: n}, ignoreHoldDown)
}

// SiteLeaders counts leaders per site.
type SiteLeaders struct {
	Site       string
	Leaders    int
	LeadersMax int
}

// LeadersPerSite counts the leaders of cells per site, before and after
// moves, and lists the sites that would exceed their LeadersMax.
func LeadersPerSite(sites []Site, cells []CellView, moves []Move) (before, after []SiteLeaders, over []string) {
	b, a := map[string]int{}, map[string]int{}
	moved := map[uint64]Move{}
	for _, m := range moves {
		moved[m.Cell] = m
	}
	for _, c := range cells {
		l, ok := c.Leader()
		if !ok {
			continue
		}
		b[l.Site]++
		if m, ok := moved[c.ID]; ok {
			a[m.ToSite]++
		} else {
			a[l.Site]++
		}
	}
	ss := append([]Site(nil), sites...)
	sort.Slice(ss, func(i, j int) bool { return ss[i].ID < ss[j].ID })
	for _, s := range ss {
		before = append(before, SiteLeaders{Site: s.ID, Leaders: b[s.ID], LeadersMax: s.LeadersMax})
		after = append(after, SiteLeaders{Site: s.ID, Leaders: a[s.ID], LeadersMax: s.LeadersMax})
		if s.LeadersMax > 0 && a[s.ID] > s.LeadersMax && a[s.ID] > b[s.ID] {
			over = append(over, fmt.Sprintf("site %s would lead %d cells, more than its leaders_max %d", s.ID, a[s.ID], s.LeadersMax))
		}
	}
	return before, after, over
}
