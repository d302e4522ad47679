package deploy

import (
	"log/slog"
	"time"
)

// clock is the time from now, a test's injected clock, or else the real time.
func clock(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// logger is log, or else slog's default logger.
func logger(log *slog.Logger) *slog.Logger {
	if log != nil {
		return log
	}
	return slog.Default()
}
