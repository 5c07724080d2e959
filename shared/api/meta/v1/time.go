package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Time is a timestamp that marshals as RFC 3339 with second precision ("2025-01-01T12:00:00Z"), and as
// null when zero, the way Kubernetes encodes metav1.Time.
type Time struct {
	time.Time
}

// Now returns the current time truncated to the second.
func Now() Time { return Time{time.Now().UTC().Truncate(time.Second)} }

// NewTime wraps t.
func NewTime(t time.Time) Time { return Time{t} }

// IsZero reports whether the time is unset; also true for a nil pointer.
func (t *Time) IsZero() bool { return t == nil || t.Time.IsZero() }

// MarshalJSON encodes the time in UTC with second precision.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.Time.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON accepts null, "" and any RFC 3339 timestamp (fractional seconds are dropped).
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be a string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	pt, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("parsing time %q: %w", s, err)
	}
	t.Time = pt.Local().Truncate(time.Second)
	return nil
}

// MicroTime is a timestamp with microsecond precision ("2025-01-01T12:00:00.000000Z"), used by Lease
// renewTime and Event eventTime.
type MicroTime struct {
	time.Time
}

// NowMicro returns the current time truncated to the microsecond.
func NowMicro() MicroTime { return MicroTime{time.Now().UTC().Truncate(time.Microsecond)} }

// IsZero reports whether the time is unset; also true for a nil pointer.
func (t *MicroTime) IsZero() bool { return t == nil || t.Time.IsZero() }

const microFormat = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON encodes the time in UTC with microsecond precision.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.Time.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(microFormat))
}

// UnmarshalJSON accepts null, "" and any RFC 3339 timestamp.
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be a string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	pt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parsing time %q: %w", s, err)
	}
	t.Time = pt.Local().Truncate(time.Microsecond)
	return nil
}

// Duration is a time.Duration that marshals as a Go duration string ("1m30s").
type Duration struct {
	time.Duration
}

// MarshalJSON encodes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	pd, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = pd
	return nil
}
