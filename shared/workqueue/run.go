package workqueue

import (
	"context"
	"sync"
)

// Run processes items with the given number of workers until ctx ends, then shuts the queue down and
// returns once every worker has finished its current item. fn's result decides the item's fate: nil
// forgets its retry history, an error re-adds it with AddRateLimited (back-off). fn is the reconcile
// function: level-based, so running it again for the same item is harmless.
func (q *Queue[T]) Run(ctx context.Context, workers int, fn func(ctx context.Context, item T) error) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q.processNext(ctx, fn) {
			}
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func (q *Queue[T]) processNext(ctx context.Context, fn func(context.Context, T) error) bool {
	item, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(item)
	if ctx.Err() != nil {
		return true // shutting down: let Get drain the rest without work
	}
	if err := fn(ctx, item); err != nil {
		q.AddRateLimited(item)
		return true
	}
	q.Forget(item)
	return true
}
