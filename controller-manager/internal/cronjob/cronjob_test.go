package cronjob

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestMostRecent(t *testing.T) {
	base := time.Date(2025, 1, 1, 10, 0, 30, 0, time.UTC)
	tests := []struct {
		name       string
		schedule   string
		earliest   time.Time
		now        time.Time
		wantLast   string
		wantNext   string
		wantMissed int
	}{
		{"no tick yet", "* * * * *", base, base.Add(10 * time.Second), "", "10:01:00", 0},
		{"one tick passed", "* * * * *", base, base.Add(40 * time.Second), "10:01:00", "10:02:00", 1},
		{"several ticks give the latest", "*/5 * * * *", base, base.Add(16 * time.Minute), "10:15:00", "10:20:00", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := cron.ParseStandard(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			last, next, missed := MostRecent(s, time.UTC, tc.earliest, tc.now)
			got := ""
			if !last.IsZero() {
				got = last.Format("15:04:05")
			}
			if got != tc.wantLast || next.Format("15:04:05") != tc.wantNext || missed != tc.wantMissed {
				t.Fatalf("MostRecent = %q, %s, %d; want %q, %s, %d", got, next.Format("15:04:05"), missed, tc.wantLast, tc.wantNext, tc.wantMissed)
			}
		})
	}
}
