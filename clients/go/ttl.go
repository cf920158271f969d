package tessera

import (
	"strconv"
	"strings"
	"time"
)

// ttlUnits are the units of the server's TTL grammar, largest first.
var ttlUnits = []struct {
	suffix string
	length time.Duration
}{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// FormatTTL renders d in the server's TTL grammar: whole seconds, largest unit first, units w, d,
// h, m and s, zero parts left out (90*time.Minute+15*time.Second is "1h30m15s", 8 days is "1w1d").
// Fractions of a second are dropped, since a token should never outlive what was asked for.
//
// Zero gives "", which the server reads as its default. A negative duration, or a positive one
// shorter than a second, is an ErrInvalidArgument naming field "ttl".
func FormatTTL(d time.Duration) (string, error) {
	switch {
	case d == 0:
		return "", nil
	case d < 0:
		return "", newError(ReasonInvalidArgument, "ttl", "ttl must not be negative, got "+d.String())
	case d < time.Second:
		return "", newError(ReasonInvalidArgument, "ttl", "ttl must be at least one second, got "+d.String())
	}
	d = d.Truncate(time.Second)
	var b strings.Builder
	for _, unit := range ttlUnits {
		if n := d / unit.length; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(unit.suffix)
			d -= n * unit.length
		}
	}
	return b.String(), nil
}
