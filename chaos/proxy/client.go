package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cellpay/cellpay/chaos/fabric"
)

// answerBytesMax bounds an answer of the control API; a status of a few
// hundred routes is tens of kilobytes.
const answerBytesMax = 16 << 20

// ErrRefused marks an answer of the control API that rejects the request
// (400: bad input, 404: no such endpoint), as opposed to a proxy that
// cannot be reached.
var ErrRefused = errors.New("proxy: request refused")

// Client calls a running proxy's control API (see doc.go). Every call is
// bounded by the context and by Timeout. Safe for concurrent use.
type Client struct {
	addr    string
	timeout time.Duration
	http    *http.Client
}

// NewClient returns a client of the control API at addr (host:port);
// timeout bounds each call (0: 5 s).
func NewClient(addr string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Client{addr: addr, timeout: timeout, http: &http.Client{Transport: &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}}}
}

// Addr is the control API's host:port.
func (c *Client) Addr() string { return c.addr }

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Status is GET /status: the links and every route with its conns.
func (c *Client) Status(ctx context.Context) (StatusResponse, error) {
	var st StatusResponse
	err := c.call(ctx, http.MethodGet, "/status", nil, &st)
	return st, err
}

// Links is GET /links.
func (c *Client) Links(ctx context.Context) ([]SiteLink, error) {
	var resp LinksResponse
	err := c.call(ctx, http.MethodGet, "/links", nil, &resp)
	return resp.Links, err
}

// Link returns the link from one site to another (the zero Link when the
// proxy has none for the pair).
func (c *Client) Link(ctx context.Context, from, to string) (fabric.Link, error) {
	links, err := c.Links(ctx)
	for _, l := range links {
		if l.From == from && l.To == to {
			return l.Link, nil
		}
	}
	return fabric.Link{}, err
}

// SetDelay sets the one-way delay and jitter of both directions between a
// and b, keeping their other faults.
func (c *Client) SetDelay(ctx context.Context, a, b string, oneWay, jitter time.Duration) error {
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		if err := c.SetDelayOneWay(ctx, pair[0], pair[1], oneWay, jitter); err != nil {
			return err
		}
	}
	return nil
}

// SetDelayOneWay sets the one-way delay and jitter of the direction from
// one site to another only (POST /links/FROM/TO), keeping its other faults
// and the other direction.
func (c *Client) SetDelayOneWay(ctx context.Context, from, to string, oneWay, jitter time.Duration) error {
	body := map[string]string{"delay": oneWay.String(), "jitter": jitter.String()}
	return c.post(ctx, "/links/"+url.PathEscape(from)+"/"+url.PathEscape(to), body)
}

// Cut is POST /cut: both directions between a and b.
func (c *Client) Cut(ctx context.Context, a, b string) error {
	return c.post(ctx, "/cut", pairRequest{A: a, B: b})
}

// Heal is POST /heal of the pair a, b.
func (c *Client) Heal(ctx context.Context, a, b string) error {
	return c.post(ctx, "/heal", pairRequest{A: a, B: b})
}

// HealAll is POST /heal of every link and every ingress cut.
func (c *Client) HealAll(ctx context.Context) error {
	return c.post(ctx, "/heal", struct{}{})
}

// Isolate is POST /isolate: site from every other site (not its clients).
func (c *Client) Isolate(ctx context.Context, site string) error {
	return c.post(ctx, "/isolate", siteRequest{Site: site})
}

// CutIngress is POST /ingress/cut: site from every client pseudo-site.
func (c *Client) CutIngress(ctx context.Context, site string) error {
	return c.post(ctx, "/ingress/cut", siteRequest{Site: site})
}

func (c *Client) post(ctx context.Context, path string, body any) error {
	var resp ChangeResponse
	return c.call(ctx, http.MethodPost, path, body, &resp)
}

// call sends one request (body as JSON unless nil) and decodes the answer
// into out. A 4xx answer wraps ErrRefused with the proxy's message.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var reqBody io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, reqBody)
	if err != nil {
		return fmt.Errorf("proxy: control API at %s: %w", c.addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("proxy: control API at %s cannot be reached: %w", c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if err != nil {
		return fmt.Errorf("proxy: control API at %s: reading the answer to %s %s: %w", c.addr, method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr errorResponse
		message := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &apiErr) == nil && apiErr.Error != "" {
			message = apiErr.Error
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return fmt.Errorf("%w: %s %s at %s: %s", ErrRefused, method, path, c.addr, message)
		}
		return fmt.Errorf("proxy: control API at %s answered %s %s with %d: %s", c.addr, method, path, resp.StatusCode, message)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("proxy: control API at %s answered %s %s with something else than JSON: %w", c.addr, method, path, err)
	}
	return nil
}
