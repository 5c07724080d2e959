// Package workqueue provides the work queue controllers are written on: per-item deduplication (an
// item queued many times is processed once), a guarantee that one item never runs on two workers at
// once (an item added while processing is queued again after Done), delayed adds, and rate-limited
// retries with per-item exponential backoff combined with an overall token bucket (DefaultRateLimiter,
// 5ms..1000s and 10 qps / burst 100, as Kubernetes controllers use). Metrics are optional and go to a
// registry the component passes in.
//
// It does not process items itself: the caller runs worker goroutines that loop on Get and Done.
package workqueue
