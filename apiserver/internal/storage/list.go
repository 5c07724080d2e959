package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxListChunk bounds one etcd range read while listing, so a list of any size is read in pieces at one
// revision instead of in one huge response.
const maxListChunk = 10000

// ContinueExpiredError is List's error for a continue token whose revision etcd has compacted. It
// matches ErrExpired (410 Expired in Kubernetes). Continue is a token that resumes the same list at the
// latest revision: an inconsistent continuation, as Kubernetes offers in its 410 Status.
type ContinueExpiredError struct {
	Continue string
	Err      error
}

func (e *ContinueExpiredError) Error() string {
	return fmt.Sprintf("continue token expired (its revision was compacted; restart the list or continue inconsistently): %v", e.Err)
}

// Unwrap makes the error match ErrExpired and the underlying etcd error.
func (e *ContinueExpiredError) Unwrap() []error { return []error{ErrExpired, e.Err} }

// continueToken is the decoded form of ListResult.Continue: where the next page starts and the read
// revision every page of the list shares (0: the latest, for an inconsistent continuation).
type continueToken struct {
	Start string `json:"start"`
	Rev   int64  `json:"rev"`
}

func encodeContinue(start string, rev int64) string {
	b, _ := json.Marshal(continueToken{Start: start, Rev: rev}) // cannot fail: a string and an int
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(token, prefix string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return t, fmt.Errorf("%w: not base64", ErrInvalidContinue)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%w: malformed", ErrInvalidContinue)
	}
	if t.Rev < 0 || !strings.HasPrefix(t.Start, prefix) {
		return t, fmt.Errorf("%w: not a token for %s", ErrInvalidContinue, prefix)
	}
	return t, nil
}

// List serves, in this order: a continuation from etcd at the token's revision; an Exact revision from
// etcd; AnyRevision or a not-older-than Revision from the watch cache when it is synced (and current
// enough); everything else (the consistent "latest" list) from etcd with a linearizable read.
func (s *etcdStore) List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error) {
	if opts.Limit < 0 {
		return ListResult{}, fmt.Errorf("listing %s: negative limit %d", prefix, opts.Limit)
	}
	c := s.cacheFor(prefix) // the first list of a resource starts its watch cache
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return ListResult{}, fmt.Errorf("listing %s: %w", prefix, err)
		}
		res, err := s.listEtcd(ctx, prefix, tok.Start, tok.Rev, opts.Limit, opts.Predicate)
		if errors.Is(err, ErrExpired) {
			return ListResult{}, &ContinueExpiredError{Continue: encodeContinue(tok.Start, 0), Err: err}
		}
		if err != nil {
			return ListResult{}, fmt.Errorf("listing %s: %w", prefix, err)
		}
		s.countList(c, "etcd")
		return res, nil
	}
	if (opts.AnyRevision || opts.Revision > 0 && !opts.Exact) && c != nil {
		if res, ok := c.list(prefix, opts); ok {
			s.countList(c, "cache")
			return res, nil
		}
	}
	rev := int64(0)
	if opts.Exact {
		rev = opts.Revision
	}
	res, err := s.listEtcd(ctx, prefix, prefix, rev, opts.Limit, opts.Predicate)
	if err != nil {
		return ListResult{}, fmt.Errorf("listing %s: %w", prefix, err)
	}
	s.countList(c, "etcd")
	return res, nil
}

func (s *etcdStore) countList(c *watchCache, source string) {
	resource := "other"
	if c != nil {
		resource = c.resource
	}
	s.metrics.listSource.WithLabelValues(resource, source).Inc()
}

// listEtcd reads the keys in [start, end of prefix) at rev (0: the latest, then pinned to the first
// read's revision) in chunks, applying pred, until limit matching items are found.
func (s *etcdStore) listEtcd(ctx context.Context, prefix, start string, rev, limit int64, pred func(KV) bool) (ListResult, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	chunk := int64(maxListChunk)
	if limit > 0 && limit < chunk {
		chunk = limit
	}
	var res ListResult
	key := start
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(chunk)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		var resp *clientv3.GetResponse
		err := s.op(ctx, "list", func(ctx context.Context) (err error) {
			resp, err = s.client.Get(ctx, key, opts...)
			return err
		})
		if err != nil {
			if errors.Is(err, ErrExpired) && rev > 0 {
				return ListResult{}, fmt.Errorf("revision %d: %w", rev, err)
			}
			return ListResult{}, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		res.Revision = rev
		for i, kv := range resp.Kvs {
			item := kvFrom(kv)
			if pred != nil && !pred(item) {
				continue
			}
			res.Items = append(res.Items, item)
			if limit > 0 && int64(len(res.Items)) == limit {
				if i < len(resp.Kvs)-1 || resp.More {
					res.Continue = encodeContinue(item.Key+"\x00", rev)
					if pred == nil {
						remaining := resp.Count - int64(i+1)
						res.RemainingItemCount = &remaining
					}
				}
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return res, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if pred != nil && chunk < maxListChunk {
			chunk *= 2 // sparse matches: read further ahead each round
		}
	}
}
