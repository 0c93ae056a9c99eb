// Package statuspage serves the router's status page: one HTML page with
// its CSS and JavaScript embedded in the binary (go:embed, no build step, no
// external assets), and the cluster status it renders as JSON.
//
// # Routes
//
//	GET /status                   the page (HTML)
//	GET /status.json              pb.ClusterStatus in protojson form (proto
//	                              names, every field, int64 as strings)
//	GET /status/assets/status.css the page's style sheet
//	GET /status/assets/status.js  the page's script
//
// HEAD is accepted wherever GET is; any other method is answered 405 with
// an Allow header. Every other path goes to the next handler (the router's
// HTTP/JSON API), so the page lives beside /v1/ on the same listener.
//
// The page fetches /status.json every 2 s and draws the sites grouped by
// region (colored by the meta group's site state, with reachability and
// round-trip time from this router to each site), a card per cell (leader
// at home, acting elsewhere, or none known; leader node, term, replicas'
// lag), request rates per cell (counter deltas between two refreshes,
// divided by the time between them), and the recent meta events newest
// first. The script builds the page with textContent and attributes only;
// it never parses data as HTML. The Content-Security-Policy allows scripts,
// styles and fetches from the router alone.
//
// Each /status.json request computes the status afresh (Config.Status, the
// router's own RouterAdmin.Status in process: no network hop to itself),
// bounded by Config.StatusTimeout; at most Config.InFlightMax computations
// run at once, and a request beyond that is answered 503 at once rather
// than queued.
//
// Callers' duties: give New a Status function that honors its context's
// deadline, and the topology's sites (SitesOf) so the page can group them
// by region.
package statuspage
