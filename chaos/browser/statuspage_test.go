//go:build linux

package browser_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/router/control"
)

var updateScreenshot = flag.Bool("update", false, "keep the failover screenshot as testdata/status-failover.png")

// Limits of the browser test: the whole test stays well under 2 minutes.
const (
	browserTestDuration = 100 * time.Second
	// chromiumRunTimeout bounds one Chromium run; it is killed after that.
	chromiumRunTimeout = 30 * time.Second
	// failoverWaitMax bounds the wait for the failover to show in
	// /status.json (cells move in seconds; the site is declared down soon
	// after).
	failoverWaitMax = 30 * time.Second
	// virtualTimeBudgetMs lets the page's script run for 5 s of page time
	// (two refreshes, so rates show), paused while a fetch is pending.
	virtualTimeBudgetMs = 5000
	screenshotWidth     = 1400
	screenshotHeight    = 1000
	renderAttemptsMax   = 3
	loadWorkers         = 4
	loadRequestsMax     = 20_000
)

// TestStatusPageInBrowser starts a three-site cluster, reads /status.json
// of hz-b's router over HTTP, renders /status in headless Chromium (every
// cell shows, leading at home), cuts hz-a off, and renders again: hz-a's
// cells act in hz-b and the events show hz-a down. It keeps a screenshot.
func TestStatusPageInBrowser(t *testing.T) {
	deadline := time.Now().Add(browserTestDuration)
	c := startCluster(t)
	base := "http://" + c.HTTPAddr("hz-b")

	st := getStatus(t, base)
	if st.GetRouterSite() != "hz-b" || len(st.GetCells()) != len(c.Topology.Cells()) {
		t.Fatalf("status.json: router site %q with %d cells, want hz-b with %d", st.GetRouterSite(), len(st.GetCells()), len(c.Topology.Cells()))
	}
	for _, cs := range st.GetCells() {
		if cs.GetActingSite() != cs.GetHomeSite() || cs.GetLeaderNodeId() == "" {
			t.Errorf("status.json: cell %d acts in %q (leader %q), home %s", cs.GetCellId(), cs.GetActingSite(), cs.GetLeaderNodeId(), cs.GetHomeSite())
		}
	}

	bin := chromiumOrSkip(t)
	load := startHTTPLoad(t, base, c.Topology)
	time.Sleep(time.Second) // some traffic before the first look, for rates

	renderUntil(t, bin, base+"/status", "before the cut", func(dom string) []string {
		var problems []string
		cells := elementsWith(dom, "data-cell-id", "article")
		if len(cells) != len(c.Topology.Cells()) {
			problems = append(problems, fmt.Sprintf("the page shows %d cells, want %d", len(cells), len(c.Topology.Cells())))
		}
		for _, cl := range c.Topology.Cells() {
			e := findByAttr(cells, "data-cell-id", strconv.FormatUint(cl.ID, 10))
			if e == nil {
				problems = append(problems, fmt.Sprintf("cell %d is not on the page", cl.ID))
			} else if e["data-placement"] != "home" || e["data-acting"] != cl.Home || e["data-home"] != cl.Home || e["data-leader"] == "" {
				problems = append(problems, fmt.Sprintf("cell %d: %v, want leading at home %s", cl.ID, e, cl.Home))
			}
		}
		for _, s := range c.Topology.Sites() {
			if e := findByAttr(elementsWith(dom, "data-site", "g"), "data-site", s.ID); e == nil || e["data-state"] != "healthy" || e["data-region"] != s.Region {
				problems = append(problems, fmt.Sprintf("site %s: %v, want healthy in %s", s.ID, e, s.Region))
			}
		}
		return problems
	})

	t.Log("isolating hz-a")
	c.Fabric.Isolate("hz-a")
	hzA := homedIn(c.Topology, "hz-a")
	waitUntil(t, failoverWaitMax, "hz-a's cells act in hz-b and the meta group records hz-a down", func() (bool, string) {
		st := getStatus(t, base)
		for _, cs := range st.GetCells() {
			if cs.GetHomeSite() == "hz-a" && (cs.GetActingSite() != "hz-b" || cs.GetLeaderNodeId() == "") {
				return false, fmt.Sprintf("cell %d acts in %q", cs.GetCellId(), cs.GetActingSite())
			}
		}
		if !hasEvent(st, func(e *pb.MetaEvent) bool {
			return e.GetKind() == "site_state" && e.GetSite() == "hz-a" && e.GetState() == pb.SiteState_SITE_DOWN
		}) {
			return false, fmt.Sprintf("no site_state event: hz-a down (site states %v, %d events)", st.GetSiteStates(), len(st.GetEvents()))
		}
		return true, ""
	})

	dom := renderUntil(t, bin, base+"/status", "after the cut", func(dom string) []string {
		var problems []string
		cells := elementsWith(dom, "data-cell-id", "article")
		if len(cells) != len(c.Topology.Cells()) {
			problems = append(problems, fmt.Sprintf("the page shows %d cells, want %d", len(cells), len(c.Topology.Cells())))
		}
		for _, id := range hzA {
			e := findByAttr(cells, "data-cell-id", strconv.FormatUint(id, 10))
			if e == nil || e["data-placement"] != "away" || e["data-acting"] != "hz-b" {
				problems = append(problems, fmt.Sprintf("cell %d: %v, want acting in hz-b", id, e))
			}
		}
		if e := findByAttr(elementsWith(dom, "data-site", "g"), "data-site", "hz-a"); e == nil || e["data-state"] != "down" {
			problems = append(problems, fmt.Sprintf("site hz-a: %v, want down", e))
		}
		events := elementsWith(dom, "data-kind", "tr")
		if !anyElement(events, func(e map[string]string) bool {
			return e["data-kind"] == "site_state" && e["data-site"] == "hz-a" && e["data-state"] == "down"
		}) || !strings.Contains(dom, "hz-a is down") {
			problems = append(problems, fmt.Sprintf("the events do not show hz-a down (%d events shown)", len(events)))
		}
		return problems
	})
	t.Logf("after the cut the page shows %d events; %d requests ok, %d failed so far", len(elementsWith(dom, "data-kind", "tr")), load.ok.Load(), load.failed.Load())

	shot := filepath.Join(t.TempDir(), "status.png")
	runChromium(t, bin, "--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", screenshotWidth, screenshotHeight), "--hide-scrollbars", base+"/status")
	checkScreenshot(t, shot)
	if *updateScreenshot {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "status-failover.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load.stop()
	c.Fabric.HealAll()
	if time.Now().After(deadline) {
		t.Errorf("the test took longer than its %s budget", browserTestDuration)
	}
}

// chromiumOrSkip finds Chromium. Without it the test skips, except in CI
// (CI set), where .ci/run installs it and its absence is a failure.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium): skipping the headless browser test of the status page")
	return ""
}

// startCluster starts three sites with six cells (two homed in each),
// emulated RTTs and leaders at home. The hold-down outlasts the test, so
// nothing fails back while the page is looked at.
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Start(cluster.Config{Dir: t.TempDir(), Seed: 1, Cells: 6, EmulateRTT: true, Control: func(cc *control.ControlConfig) {
		cc.Failover.HoldDown = 5 * time.Minute
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.LeadersHome(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "every cell leads at home", func() (bool, string) {
		for _, cl := range c.Topology.Cells() {
			l := c.Leader(cl.ID)
			if n, _ := c.Topology.Node(l); l == "" || n.Site != cl.Home {
				return false, fmt.Sprintf("cell %d (home %s) led by %q", cl.ID, cl.Home, l)
			}
		}
		return true, ""
	})
	return c
}

// waitUntil polls cond every 100 ms until it holds or bound passes.
func waitUntil(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < bound {
		ok, state := cond()
		if ok {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not within %s: %s (last: %s)", bound, what, last)
}

func homedIn(topo *topology.Topology, site string) []uint64 {
	var out []uint64
	for _, cl := range topo.Cells() {
		if cl.Home == site {
			out = append(out, cl.ID)
		}
	}
	return out
}

func hasEvent(st *pb.ClusterStatus, match func(*pb.MetaEvent) bool) bool {
	for _, e := range st.GetEvents() {
		if match(e) {
			return true
		}
	}
	return false
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func getStatus(t *testing.T, base string) *pb.ClusterStatus {
	t.Helper()
	resp, err := httpClient.Get(base + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status.json: %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var st pb.ClusterStatus
	if err := protojson.Unmarshal(body, &st); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	return &st
}

// httpLoad deposits into two accounts per cell through the router's
// HTTP/JSON API, so the page has rates to show and the controller sees
// first writes after the failover.
type httpLoad struct {
	ok, failed atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startHTTPLoad(t *testing.T, base string, topo *topology.Topology) *httpLoad {
	t.Helper()
	perCell := map[uint64]int{}
	var accounts []string
	for i := 0; i < 10_000 && len(accounts) < 2*len(topo.Cells()); i++ {
		id := fmt.Sprintf("page-%d", i)
		cl, ok := topo.CellOfAccount(id)
		if ok && perCell[cl.ID] < 2 {
			perCell[cl.ID]++
			accounts = append(accounts, id)
		}
	}
	for _, a := range accounts {
		if code, body := post(context.Background(), base+"/v1/accounts", "open-"+a, fmt.Sprintf(`{"account_id":%q,"currency":"CNY"}`, a)); code != http.StatusOK {
			t.Fatalf("open %s: %d %s", a, code, body)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &httpLoad{cancel: cancel}
	var sent atomic.Int64
	for w := 0; w < loadWorkers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := w; ctx.Err() == nil && sent.Add(1) <= loadRequestsMax; i += loadWorkers {
				a := accounts[i%len(accounts)]
				key := fmt.Sprintf("dep-%s-%d", a, i)
				code, _ := post(ctx, base+"/v1/deposits", key, fmt.Sprintf(`{"account_id":%q,"amount_minor":"100","currency":"CNY","external_ref":%q}`, a, key))
				if code == http.StatusOK {
					l.ok.Add(1)
				} else if ctx.Err() == nil {
					l.failed.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *httpLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

func post(ctx context.Context, url, key, body string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}

// runChromium runs headless Chromium with args (a fresh profile, nothing
// fetched but the page) and returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	profile, err := os.MkdirTemp("", "statuspage-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
		"--disable-breakpad",
		"--user-data-dir=" + profile, fmt.Sprintf("--virtual-time-budget=%d", virtualTimeBudgetMs),
	}, args...)
	start := time.Now()
	stdout, stderr, timedOut, err := runGroup(chromiumRunTimeout, bin, all...)
	if timedOut {
		t.Fatalf("chromium did not finish within %s (killed); stderr:\n%s", chromiumRunTimeout, tail(string(stderr), 2000))
	}
	if err != nil {
		t.Fatalf("chromium: %v; stderr:\n%s", err, tail(string(stderr), 2000))
	}
	t.Logf("chromium %s took %s", args[0], time.Since(start).Round(time.Millisecond))
	return stdout
}

// runGroup runs bin in a process group of its own, so that the browser and
// its helpers are killed whole (by the group's id) when timeout passes, and
// once more after the run for any helper left behind; nothing outlives the
// call but Chromium's crash handler, which starts a session of its own and
// exits when the browser is gone.
func runGroup(timeout time.Duration, bin string, args ...string) (stdout, stderr []byte, timedOut bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // pipes held by a helper do not hold up Wait
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return out.Bytes(), errOut.Bytes(), ctx.Err() != nil, err
}

// A browser that hangs is killed at the timeout, with every process it
// started.
func TestRunGroupKillsTheWholeGroupOnTimeout(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hanging-browser")
	pidFile := filepath.Join(dir, "child.pid")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 300 &\necho $! > \"$1\"\nsleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, timedOut, err := runGroup(time.Second, script, pidFile)
	if !timedOut || err == nil {
		t.Fatalf("runGroup of a hanging script: timed out %v, err %v", timedOut, err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("runGroup returned %s after its 1s timeout", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); !processGone(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the script's child %d outlived the timeout", pid)
		}
	}
}

// processGone reports whether pid has exited (gone, or a zombie waiting to
// be reaped by init).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses: "123 (sleep) Z ...".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z'
	}
	return false
}

// renderUntil renders url in Chromium until check finds no problem, at most
// renderAttemptsMax times: the cluster may be between two leaders at the
// moment the page looks (a loaded machine misses heartbeats), which is no
// fault of the page. It fails with the last problems and returns the DOM.
func renderUntil(t *testing.T, bin, url, when string, check func(dom string) []string) string {
	t.Helper()
	var dom string
	var problems []string
	for attempt := 1; attempt <= renderAttemptsMax; attempt++ {
		dom = string(runChromium(t, bin, "--dump-dom", url))
		checkRendered(t, dom)
		if problems = check(dom); len(problems) == 0 {
			return dom
		}
		t.Logf("%s, render %d of %d: %s", when, attempt, renderAttemptsMax, strings.Join(problems, "; "))
		time.Sleep(time.Second)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", when, p)
	}
	return dom
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// checkRendered fails unless the page's script ran and rendered a status.
func checkRendered(t *testing.T, dom string) {
	t.Helper()
	body := elementsWith(dom, "data-refreshes", "body")
	if len(body) != 1 {
		t.Fatalf("no body with data-refreshes in the DOM:\n%s", tail(dom, 3000))
	}
	if n, _ := strconv.Atoi(body[0]["data-refreshes"]); n < 2 {
		t.Errorf("the page refreshed %s times in its time budget, want at least 2", body[0]["data-refreshes"])
	}
	conn := elementsWith(dom, "data-state", "div")
	if e := findByAttr(conn, "id", "conn"); e == nil || e["data-state"] != "live" {
		t.Fatalf("the page is not live: %v\n%s", e, tail(dom, 3000))
	}
}

var (
	startTagRe = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)(\s[^>]*)?>`)
	attrRe     = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"`)
)

// elementsWith returns the attributes of every tag element having attr, as
// Chromium serializes them (double-quoted, escaped values).
func elementsWith(dom, attr, tag string) []map[string]string {
	var out []map[string]string
	for _, m := range startTagRe.FindAllStringSubmatch(dom, -1) {
		if !strings.EqualFold(m[1], tag) || !strings.Contains(m[2], attr+`="`) {
			continue
		}
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(m[2], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if _, ok := attrs[attr]; ok {
			out = append(out, attrs)
		}
	}
	return out
}

func findByAttr(elems []map[string]string, attr, value string) map[string]string {
	for _, e := range elems {
		if e[attr] == value {
			return e
		}
	}
	return nil
}

func anyElement(elems []map[string]string, match func(map[string]string) bool) bool {
	for _, e := range elems {
		if match(e) {
			return true
		}
	}
	return false
}

// checkScreenshot fails unless path is a PNG of the window's size with
// real content: many colors, not one.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != screenshotWidth || b.Dy() != screenshotHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), screenshotWidth, screenshotHeight)
	}
	colors := map[[3]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	if len(colors) < 50 {
		t.Errorf("screenshot has %d colors, want a rendered page (at least 50)", len(colors))
	}
	// The page's state colors are there: the green of a home cell and the
	// amber of a cell acting elsewhere.
	if !hasColorNear(img, 0x2e, 0x7d, 0x32) || !hasColorNear(img, 0xf0, 0xa0, 0x20) {
		t.Error("screenshot lacks the green (at home) or amber (acting elsewhere) of the cells")
	}
	st, _ := f.Stat()
	t.Logf("screenshot %dx%d, %d colors sampled, %d bytes", b.Dx(), b.Dy(), len(colors), st.Size())
}

func hasColorNear(img image.Image, r0, g0, b0 uint32) bool {
	b := img.Bounds()
	near := func(a, b uint32) bool { return a+6 >= b && b+6 >= a }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, r0) && near(g>>8, g0) && near(bl>>8, b0) {
				return true
			}
		}
	}
	return false
}
