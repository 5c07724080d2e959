package expectations

import (
	"testing"
	"time"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		run  func(e *Expectations)
		want bool
	}{
		{"an unknown key is satisfied", func(e *Expectations) {}, true},
		{"pending creates are not satisfied", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k") }, false},
		{"all creates observed is satisfied", func(e *Expectations) {
			e.ExpectCreations("k", 2)
			e.CreationObserved("k")
			e.CreationObserved("k")
		}, true},
		{"extra observations never go negative", func(e *Expectations) {
			e.ExpectCreations("k", 1)
			e.CreationObserved("k")
			e.CreationObserved("k")
			e.ExpectDeletions("k", []string{"a"})
		}, false},
		{"pending deletes are not satisfied", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"a", "b"})
			e.DeletionObserved("k", "a")
		}, false},
		{"a deletion of an unexpected uid changes nothing", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"a"})
			e.DeletionObserved("k", "zzz")
		}, false},
		{"all deletes observed is satisfied", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"a", "b"})
			e.DeletionObserved("k", "b")
			e.DeletionObserved("k", "a")
		}, true},
		{"expectations expire after the ttl", func(e *Expectations) {
			e.ExpectCreations("k", 5)
			now = now.Add(time.Minute + time.Second)
		}, true},
		{"forget clears the key", func(e *Expectations) { e.ExpectCreations("k", 5); e.Forget("k") }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(time.Minute)
			e.SetClock(clock)
			tc.run(e)
			if got := e.Satisfied("k"); got != tc.want {
				a, d := e.Pending("k")
				t.Fatalf("Satisfied = %v, want %v (pending adds %d deletes %d)", got, tc.want, a, d)
			}
		})
	}
}
