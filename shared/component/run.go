package component

import (
	"context"
	"errors"
	"sync"
)

// Runnable is anything that works until its context ends: controllers, servers, informers.
type Runnable func(ctx context.Context) error

// RunAll runs every runnable until ctx ends or one of them fails; a failure cancels the others. It
// returns the first error, after every runnable has returned.
func RunAll(ctx context.Context, runs ...Runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = err })
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}
