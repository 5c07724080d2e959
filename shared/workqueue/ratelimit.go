package workqueue

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter decides how long an item waits before it is retried.
type RateLimiter[T comparable] interface {
	// When returns the delay before the item's next retry and counts the retry.
	When(item T) time.Duration
	// Forget clears the item's retry history (call it after a success).
	Forget(item T)
	// NumRequeues returns how many retries the item has had since it was last forgotten.
	NumRequeues(item T) int
}

// DefaultRateLimiter is the controller default: the larger of a per-item exponential backoff from 5ms to
// 1000s and an overall token bucket of 10 retries per second with a burst of 100.
func DefaultRateLimiter[T comparable]() RateLimiter[T] {
	return MaxOf[T](
		NewExponentialLimiter[T](5*time.Millisecond, 1000*time.Second),
		NewBucketLimiter[T](10, 100),
	)
}

// ExponentialLimiter delays an item base*2^n for its n-th consecutive retry, capped at max.
type ExponentialLimiter[T comparable] struct {
	base, max time.Duration
	mu        sync.Mutex
	failures  map[T]int
}

// NewExponentialLimiter returns a per-item exponential backoff.
func NewExponentialLimiter[T comparable](base, max time.Duration) *ExponentialLimiter[T] {
	return &ExponentialLimiter[T]{base: base, max: max, failures: map[T]int{}}
}

// When implements RateLimiter.
func (l *ExponentialLimiter[T]) When(item T) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.failures[item]
	l.failures[item] = n + 1
	d := float64(l.base) * math.Pow(2, float64(n))
	if d > float64(l.max) || math.IsInf(d, 0) {
		return l.max
	}
	return time.Duration(d)
}

// Forget implements RateLimiter.
func (l *ExponentialLimiter[T]) Forget(item T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, item)
}

// NumRequeues implements RateLimiter.
func (l *ExponentialLimiter[T]) NumRequeues(item T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[item]
}

// BucketLimiter spaces all retries, whatever the item, by an overall token bucket.
type BucketLimiter[T comparable] struct {
	limiter *rate.Limiter
}

// NewBucketLimiter returns an overall limiter of qps retries per second with the given burst.
func NewBucketLimiter[T comparable](qps float64, burst int) *BucketLimiter[T] {
	return &BucketLimiter[T]{limiter: rate.NewLimiter(rate.Limit(qps), burst)}
}

// When implements RateLimiter: it reserves a token and returns the wait for it.
func (l *BucketLimiter[T]) When(T) time.Duration { return l.limiter.Reserve().Delay() }

// Forget implements RateLimiter; the bucket keeps no per-item state.
func (l *BucketLimiter[T]) Forget(T) {}

// NumRequeues implements RateLimiter; the bucket keeps no per-item state.
func (l *BucketLimiter[T]) NumRequeues(T) int { return 0 }

type maxOf[T comparable] []RateLimiter[T]

// MaxOf combines limiters: the delay is the largest of theirs, the requeue count the largest too.
func MaxOf[T comparable](limiters ...RateLimiter[T]) RateLimiter[T] { return maxOf[T](limiters) }

func (m maxOf[T]) When(item T) time.Duration {
	var d time.Duration
	for _, l := range m {
		d = max(d, l.When(item))
	}
	return d
}

func (m maxOf[T]) Forget(item T) {
	for _, l := range m {
		l.Forget(item)
	}
}

func (m maxOf[T]) NumRequeues(item T) int {
	n := 0
	for _, l := range m {
		n = max(n, l.NumRequeues(item))
	}
	return n
}
