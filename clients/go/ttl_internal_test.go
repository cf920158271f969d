package tessera

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestFormatTTL(t *testing.T) {
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{0, ""},
		{time.Second, "1s"},
		{30 * time.Second, "30s"},
		{15 * time.Minute, "15m"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{time.Hour + 30*time.Minute + 15*time.Second, "1h30m15s"},
		{90 * time.Second, "1m30s"},
		{day, "1d"},
		{7 * day, "1w"},
		{8*day + time.Hour, "1w1d1h"},
		{2*week + 3*day + 4*time.Hour + 5*time.Minute + 6*time.Second, "2w3d4h5m6s"},
		{time.Hour + time.Second, "1h1s"},
		{1500 * time.Millisecond, "1s"},                 // fractions are dropped, never rounded up
		{time.Minute - time.Nanosecond, "59s"},          // idem
		{100 * week, "100w"},                            // no upper unit beyond weeks
		{36 * time.Hour, "1d12h"},                       // days, not 36h
		{time.Duration(1<<63 - 1), "15250w1d23h47m16s"}, // the largest Duration
	} {
		got, err := FormatTTL(c.in)
		if err != nil || got != c.want {
			t.Errorf("FormatTTL(%v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestFormatTTLRefusesWhatTheServerCannotHonour(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, -time.Nanosecond, time.Nanosecond, 999 * time.Millisecond} {
		_, err := FormatTTL(d)
		var e *Error
		if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &e) || e.Field != "ttl" {
			t.Errorf("FormatTTL(%v): %v; want ErrInvalidArgument naming ttl", d, err)
		}
	}
}

// parseTTL reads the grammar back (units w d h m s, each at most once, largest first), to check
// that FormatTTL loses nothing but fractions of a second.
func parseTTL(t *testing.T, s string) time.Duration {
	t.Helper()
	units := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
	order := "wdhms"
	var total time.Duration
	number, lastUnit := "", -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			number += string(c)
			continue
		}
		rank := -1
		for j := range order {
			if order[j] == c {
				rank = j
			}
		}
		if rank <= lastUnit || number == "" {
			t.Fatalf("%q: unit %q out of order or without a number", s, c)
		}
		n, err := strconv.ParseInt(number, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("%q: bad number %q", s, number)
		}
		total += time.Duration(n) * units[c]
		number, lastUnit = "", rank
	}
	if number != "" {
		t.Fatalf("%q: trailing number", s)
	}
	return total
}

func TestFormatTTLRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 2000 {
		d := time.Second + time.Duration(rng.Int64N(int64(400*24*time.Hour)))
		text, err := FormatTTL(d)
		if err != nil {
			t.Fatal(err)
		}
		if back := parseTTL(t, text); back != d.Truncate(time.Second) {
			t.Fatalf("FormatTTL(%v) = %q reads back as %v", d, text, back)
		}
	}
}
