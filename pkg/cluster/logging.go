package cluster

import (
	"log"
	"regexp"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logWriter is the io.Writer memberlist logs through. memberlist only knows
// a *log.Logger; logWriter turns each of its lines, such as
// "2026/11/27 11:00:00 [DEBUG] memberlist: Stream connection from=...",
// into a zap entry at the matching level, without the timestamp or prefix.
type logWriter struct {
	log *zap.Logger
}

// newLogWriter returns a writer logging to log, named "memberlist" and
// without caller information (the caller would always be this file).
func newLogWriter(log *zap.Logger) *logWriter {
	return &logWriter{log: log.Named("memberlist").WithOptions(zap.WithCaller(false))}
}

// logTimestamp matches what log.LstdFlags (optionally log.Lmicroseconds)
// puts in front of a line, for a *log.Logger built with non-zero flags.
var logTimestamp = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? `)

// logLevels maps memberlist's level tags onto zap levels.
var logLevels = map[string]zapcore.Level{
	"TRACE":   zapcore.DebugLevel,
	"DEBUG":   zapcore.DebugLevel,
	"INFO":    zapcore.InfoLevel,
	"WARN":    zapcore.WarnLevel,
	"WARNING": zapcore.WarnLevel,
	"ERR":     zapcore.ErrorLevel,
	"ERROR":   zapcore.ErrorLevel,
}

// Write logs every non-empty line of p. It never fails, so memberlist never
// sees a logging error.
func (w *logWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(string(p), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		level, msg := parseLogLine(line)
		if ce := w.log.Check(level, msg); ce != nil {
			ce.Write()
		}
	}
	return len(p), nil
}

// parseLogLine splits a memberlist log line into its level and message.
// A line without a known level tag is logged at Info, whole.
func parseLogLine(line string) (zapcore.Level, string) {
	line = logTimestamp.ReplaceAllLiteralString(line, "")
	level := zapcore.InfoLevel
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			if l, ok := logLevels[line[1:end]]; ok {
				level = l
				line = line[end+1:]
			}
		}
	}
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}

// newStdLogger returns the *log.Logger memberlist writes to: no prefix and
// no flags, since zap adds its own timestamp.
func newStdLogger(w *logWriter) *log.Logger {
	return log.New(w, "", 0)
}
