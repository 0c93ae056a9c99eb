package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitMax bounds every wait; generous, as the machine is shared and noisy.
const waitMax = 5 * time.Second

// echoServer is a real TCP echo server on 127.0.0.1; it closes at the end of
// the test. After the end of a conn's stream it closes that conn.
type echoServer struct {
	addr     string
	listener net.Listener
	received atomic.Int64
	ended    atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{addr: ln.Addr().String(), listener: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.received.Add(int64(n))
						if _, werr := c.Write(buf[:n]); werr != nil {
							err = werr
						}
					}
					if err != nil {
						s.ended.Add(1)
						return
					}
				}
			})
		}
	})
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) close() {
	s.listener.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// startProxy starts a proxy with the routes on 127.0.0.1:0 and closes it at
// the end of the test.
func startProxy(t *testing.T, routes ...Route) *Proxy {
	t.Helper()
	p, err := Start(Config{Routes: routes, ControlAddr: "127.0.0.1:0", Seed: 1})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testRoute is a route named name from site from to the server, in site to.
func testRoute(name, from, to string, server *echoServer) Route {
	return Route{Name: name, FromSite: from, ListenAddr: "127.0.0.1:0", TargetAddr: server.addr, TargetSite: to}
}

// listenAddr is the actual address of the route named name.
func listenAddr(t *testing.T, p *Proxy, name string) string {
	t.Helper()
	for _, r := range p.Routes() {
		if r.Name == name {
			return r.ListenAddr
		}
	}
	t.Fatalf("no route %q", name)
	return ""
}

// dialRoute connects to the route named name, closed at the end of the test.
func dialRoute(t *testing.T, p *Proxy, name string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", listenAddr(t, p, name), waitMax)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient keeps no idle conns, so no goroutine outlives a request.
var httpClient = &http.Client{Timeout: waitMax, Transport: &http.Transport{DisableKeepAlives: true}}

// call makes a control API request and decodes a JSON answer into out (if
// not nil); it returns the status and the raw answer.
func call(t *testing.T, p *Proxy, method, path, body string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.ControlAddr()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s answered %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// mustPost posts body and fails unless the answer is 200.
func mustPost(t *testing.T, p *Proxy, path, body string) ChangeResponse {
	t.Helper()
	var resp ChangeResponse
	if status, raw := call(t, p, http.MethodPost, path, body, &resp); status != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", path, body, status, raw)
	}
	return resp
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	expectRead(t, c, msg)
}

func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// expectNothing asserts that a read with a deadline of wait times out: no
// data, no end of stream, no reset.
func expectNothing(t *testing.T, c net.Conn, wait time.Duration) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = (%q, %v), want a timeout: a black hole, not a reset", buf[:n], err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}
