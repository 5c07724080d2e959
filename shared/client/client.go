package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// MIME types the client sends and accepts.
const (
	ContentTypeJSON = "application/json"
)

// retry bounds for idempotent requests. Longer outages are the caller's business (informers back off
// and retry on their own).
const (
	maxRetries      = 4
	retryBaseDelay  = 100 * time.Millisecond
	retryMaxDelay   = 2 * time.Second
	retryAfterLimit = 10 * time.Second
)

// Client talks to one apiserver. It is safe for concurrent use; make one per component and share it.
type Client struct {
	cfg       Config
	base      *url.URL
	hc        *http.Client
	limiter   *rate.Limiter
	userAgent string
}

// New builds a Client from a Config.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("client config is nil")
	}
	base, err := cfg.serverURL()
	if err != nil {
		return nil, err
	}
	rt, err := cfg.transport()
	if err != nil {
		return nil, fmt.Errorf("building transport for %s: %w", base, err)
	}
	c := &Client{
		cfg:       *cfg,
		base:      base,
		hc:        &http.Client{Transport: rt},
		userAgent: cfg.UserAgent,
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	qps, burst := cfg.QPS, cfg.Burst
	if qps == 0 {
		qps = DefaultQPS
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	if qps > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(qps), burst)
	}
	return c, nil
}

// Config returns a copy of the configuration the client was built from.
func (c *Client) Config() Config { return c.cfg }

// Namespace returns the default namespace of the kubeconfig context ("default" when unknown).
func (c *Client) Namespace() string {
	if c.cfg.Namespace == "" {
		return "default"
	}
	return c.cfg.Namespace
}

// Request is one raw API call. Path is absolute ("/api/v1/namespaces/default/pods").
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Body is sent as JSON; a []byte or json.RawMessage is sent verbatim.
	Body any
	// ContentType of the body; application/json when empty.
	ContentType string
	// Accept header; application/json when empty.
	Accept string
}

func (r *Request) idempotent() bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

func (c *Client) url(r *Request) string {
	u := *c.base
	u.Path = c.base.Path + r.Path
	if len(r.Query) > 0 {
		u.RawQuery = r.Query.Encode()
	}
	return u.String()
}

func (r *Request) bodyBytes() ([]byte, error) {
	switch b := r.Body.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	case string:
		return []byte(b), nil
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encoding request body: %w", err)
		}
		return data, nil
	}
}

// Do sends the request and decodes a 2xx JSON body into out (when out is not nil). A non-2xx answer is
// returned as an *APIError. GETs are retried on connection errors, 429 and 503; nothing else is.
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, &r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", r.Method, r.Path, err)
	}
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", r.Method, r.Path, err)
	}
	return nil
}

// Stream sends the request and returns the body of a 2xx answer for the caller to read and close
// (watches, pods/log). The client's Timeout does not apply; the context bounds the stream.
func (c *Client) Stream(ctx context.Context, r Request) (io.ReadCloser, error) {
	resp, err := c.send(ctx, &r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send performs the request with throttling and bounded retries, returning a 2xx response or an error.
func (c *Client) send(ctx context.Context, r *Request) (*http.Response, error) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	body, err := r.bodyBytes()
	if err != nil {
		return nil, err
	}
	target := c.url(r)
	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, fmt.Errorf("%s %s: waiting for client rate limiter: %w", r.Method, r.Path, err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("building request %s %s: %w", r.Method, r.Path, err)
		}
		if body == nil {
			req.Body, req.ContentLength = http.NoBody, 0
		} else {
			ct := r.ContentType
			if ct == "" {
				ct = ContentTypeJSON
			}
			req.Header.Set("Content-Type", ct)
		}
		accept := r.Accept
		if accept == "" {
			accept = ContentTypeJSON
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", c.userAgent)
		if c.cfg.BearerToken != "" {
			req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
		}

		resp, err := c.hc.Do(req)
		var delay time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !r.idempotent() || attempt >= maxRetries {
				return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
			}
			delay = backoff(attempt)
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		default:
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			apiErr := decodeError(r.Method, r.Path, resp.StatusCode, data)
			retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
			if !retryable || !r.idempotent() || attempt >= maxRetries {
				return nil, apiErr
			}
			delay = backoff(attempt)
			if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				delay = ra
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff returns the delay before retry number attempt+1: exponential with jitter, capped.
func backoff(attempt int) time.Duration {
	d := retryBaseDelay << attempt
	if d > retryMaxDelay {
		d = retryMaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header in seconds, capped.
func retryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	s, err := strconv.Atoi(h)
	if err != nil || s < 0 {
		return 0, false
	}
	d := time.Duration(s) * time.Second
	if d > retryAfterLimit {
		d = retryAfterLimit
	}
	return d, true
}
