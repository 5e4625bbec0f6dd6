package collector

import (
	"testing"
	"time"
)

// A duration flag's default reads as people type it.
func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 10 * time.Second: "10s", 500 * time.Millisecond: "500ms", 0: "0s",
		90 * time.Minute: "1h30m", 2 * time.Minute: "2m", time.Hour + time.Second: "1h0m1s"} {
		if got := durationText(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
