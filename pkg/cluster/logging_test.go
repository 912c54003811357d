package cluster

import (
	"log"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogWriterMapsLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	w := newLogWriter(zap.New(core))

	lines := []string{
		"2026/11/27 11:00:00 [DEBUG] memberlist: Stream connection from=127.0.0.1:5000\n",
		"2026/11/27 11:00:00.123456 [INFO] memberlist: Updating address\n",
		"[WARN] memberlist: Refuting a suspect message (from: b)\n",
		"[ERR] memberlist: Failed to send UDP ping: boom\n",
		"[ERROR] memberlist: also an error\n",
		"[ERR] Failed to shutdown transport: x\n",
		"no level at all\n",
		"[BOGUS] unknown tag\n",
		"[DEBUG] memberlist: first\n[WARN] memberlist: second\n\n",
	}
	for _, l := range lines {
		n, err := w.Write([]byte(l))
		if err != nil || n != len(l) {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", l, n, err, len(l))
		}
	}

	want := []struct {
		level zapcore.Level
		msg   string
	}{
		{zapcore.DebugLevel, "Stream connection from=127.0.0.1:5000"},
		{zapcore.InfoLevel, "Updating address"},
		{zapcore.WarnLevel, "Refuting a suspect message (from: b)"},
		{zapcore.ErrorLevel, "Failed to send UDP ping: boom"},
		{zapcore.ErrorLevel, "also an error"},
		{zapcore.ErrorLevel, "Failed to shutdown transport: x"},
		{zapcore.InfoLevel, "no level at all"},
		{zapcore.InfoLevel, "[BOGUS] unknown tag"},
		{zapcore.DebugLevel, "first"},
		{zapcore.WarnLevel, "second"},
	}
	got := logs.AllUntimed()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("entry %d = [%v] %q; want [%v] %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
		if got[i].LoggerName != "memberlist" {
			t.Errorf("entry %d logger name = %q; want memberlist", i, got[i].LoggerName)
		}
	}
}

func TestLogWriterThroughStdLogger(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := newStdLogger(newLogWriter(zap.New(core)))
	l.Printf("[DEBUG] memberlist: dropped below Info")
	l.Printf("[WARN] memberlist: kept %d", 1)
	// A logger built with the standard flags, as memberlist makes by default.
	log.New(newLogWriter(zap.New(core)), "", log.LstdFlags).Printf("[ERR] memberlist: stamped")

	got := logs.AllUntimed()
	if len(got) != 2 || got[0].Message != "kept 1" || got[0].Level != zapcore.WarnLevel ||
		got[1].Message != "stamped" || got[1].Level != zapcore.ErrorLevel {
		t.Fatalf("entries = %+v", got)
	}
}
