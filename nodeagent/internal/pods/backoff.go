package pods

import "time"

// Back-off of container restarts, as the kubelet does it: 10s, doubling per crash up to 5 minutes, and
// reset once a container ran for 10 minutes.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// nextBackoff returns the delay before restarting a container that just exited after running for ran,
// given the previous delay (zero for the first crash).
func nextBackoff(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= backoffReset {
		return backoffInitial
	}
	next := prev * 2
	if next > backoffMax {
		next = backoffMax
	}
	return next
}
