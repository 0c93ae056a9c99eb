package fabric

// Link.Probability is not a fault of its own but a gate in front of all of a
// link's faults, like toxiproxy's toxicity: it says to which conns (or, for a
// PacketConn, to which datagrams) they apply.
//
// A stream conn draws one number in [0, 1) when it is dialed, its selection
// draw, and keeps it for life. In each direction the link's faults apply to it
// while draw < Probability, so:
//
//   - The draw is per conn, shared by both directions: with the same
//     Probability both ways a conn is selected both ways or neither (a
//     two-way "cut 30% of conns" cuts 30% of conns, not 51% in one direction).
//   - A link change never re-draws. The same conns stay selected across Cut,
//     Heal and SetLink; raising Probability adds conns to the selection,
//     lowering it removes some, setting it back restores the same selection.
//     Conns dialed before the link was set are selected the same way.
//   - The draw comes from a stream of its own (selectionDraw), so it does not
//     shift the jitter and loss values of the conn's directions.
//
// The zero value must keep meaning what a Link without the field always
// meant, so 0, like 1, means every conn; only a Probability strictly between
// 0 and 1 selects.

// selectionStreamSuffix names the stream of a conn's selection draw. It is
// seeded like a direction's fault stream (faultRand), with a direction that no
// conn has: the directions of a conn dialed from A to B are (A, B) and (B, A),
// never (A, B+selectionStreamSuffix).
const selectionStreamSuffix = "/probability"

// selectionDraw returns the selection draw in [0, 1) of the dial-th conn
// dialed from site fromSite to site toSite: reproducible for a seed.
func (f *Fabric) selectionDraw(fromSite, toSite string, dial uint64) float64 {
	return f.faultRand(fromSite, toSite, dial, fromSite, toSite+selectionStreamSuffix).Float64()
}

// selects reports whether probability only selects some conns or datagrams,
// that is, lies strictly between 0 and 1; 0 and 1 both mean all of them.
func selects(probability float64) bool {
	return probability > 0 && probability < 1
}

// applies reports whether the faults of a link of probability (already
// normalized into [0, 1]) apply to a conn or datagram whose draw is draw.
func applies(probability, draw float64) bool {
	return !selects(probability) || draw < probability
}
