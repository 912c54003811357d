package daemon

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlagsOverrideConfig(t *testing.T) {
	cfg := writeFile(t, "node.yaml", "rpc: 127.0.0.1:9000\nslots: 3\njoin: [127.0.0.1:1, 127.0.0.1:2]\nmemory: 64MiB\n")
	o, err := Parse(cluster.RoleNode, []string{"--config", cfg, "--slots", "5", "--name", "n1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.RPC != "127.0.0.1:9000" || o.Slots != 5 || o.Name != "n1" || len(o.Join) != 2 || o.MemoryBytes != 64<<20 {
		t.Fatalf("options %+v", o)
	}
	if o.DataDir != filepath.Join("dlbp-data", "n1") {
		t.Fatalf("data dir %q", o.DataDir)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		role cluster.Role
		file string
		args []string
		want string
	}{
		{cluster.RoleNode, "rpc: 127.0.0.1:1\nbogus: 1\n", nil, `key "bogus" is not a node setting`},
		{cluster.RoleNode, "mode: single\n", nil, `key "mode" is not a node setting`},
		{cluster.RoleMapLB, "slots: 3\n", nil, `key "slots" is not a maplb setting`},
		{cluster.RoleMapLB, "", []string{"--mode", "triple"}, `--mode "triple": want dlbp or single`},
		{cluster.RoleNode, "", []string{"--slots", "0"}, `--slots 0`},
		{cluster.RoleNode, "", []string{"--rpc", "nonsense"}, `--rpc "nonsense": want HOST:PORT`},
		{cluster.RoleNode, "", []string{"--rpc", "0.0.0.0:7000"}, `refusing to listen on 0.0.0.0:7000 (--rpc) without a cluster secret`},
		{cluster.RoleMapLB, "", []string{"--http", "10.1.2.3:80"}, `refusing to listen on 10.1.2.3:80 (--http)`},
		{cluster.RoleNode, "", []string{"extra"}, `unexpected argument "extra"`},
	} {
		args := tc.args
		if tc.file != "" {
			args = append([]string{"--config", writeFile(t, "c.yaml", tc.file)}, args...)
		}
		_, err := Parse(tc.role, args, io.Discard)
		if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want one containing %q", tc.role, args, err, tc.want)
		}
	}
}

func TestInsecureAndSecret(t *testing.T) {
	if _, err := Parse(cluster.RoleNode, []string{"--rpc", "0.0.0.0:0", "--insecure"}, io.Discard); err != nil {
		t.Fatalf("--insecure refused: %v", err)
	}
	secret := writeFile(t, "secret", "0123456789abcdef0123\n")
	o, err := Parse(cluster.RoleNode, []string{"--rpc", "0.0.0.0:0", "--secret-file", secret}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Secret) != "0123456789abcdef0123" {
		t.Fatalf("secret %q", o.Secret)
	}
	short := writeFile(t, "short", "abc")
	if _, err := Parse(cluster.RoleNode, []string{"--secret-file", short}, io.Discard); err == nil {
		t.Fatal("short secret accepted")
	}
}

// TestShippedConfigs loads every file of configs/ with its daemon.
func TestShippedConfigs(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "configs")
	for _, role := range []cluster.Role{cluster.RoleMapLB, cluster.RoleReduceLB, cluster.RoleNode} {
		o, err := Parse(role, []string{"--config", filepath.Join(dir, string(role)+".yaml")}, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		d := Defaults(role)
		if o.RPC != d.RPC || o.Gossip != d.Gossip || o.HTTP != d.HTTP || o.Slots != d.Slots || o.Mode != d.Mode {
			t.Errorf("%s: configs file differs from the defaults: %+v", role, o)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "64KiB": 64 << 10, "256MiB": 256 << 20, "1GiB": 1 << 30, "4MB": 4000000, "2M": 2 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.5MiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}

// TestVersionFlag: every daemon takes --version, and Parse says so without starting anything.
func TestVersionFlag(t *testing.T) {
	for _, role := range []cluster.Role{cluster.RoleMapLB, cluster.RoleReduceLB, cluster.RoleNode} {
		if _, err := Parse(role, []string{"--version"}, io.Discard); !errors.Is(err, ErrVersion) {
			t.Errorf("%s --version: %v, want ErrVersion", role, err)
		}
	}
}

// TestFailedStartCreatesNothing: a daemon whose port is in use fails to start and leaves no
// data directory behind.
func TestFailedStartCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, port := range []string{"rpc", "gossip"} {
		o := Defaults(cluster.RoleNode)
		o.Name, o.DataDir = "n", filepath.Join(t.TempDir(), "data")
		o.RPC, o.Gossip = "127.0.0.1:0", "127.0.0.1:0"
		if port == "rpc" {
			o.RPC = busy.Addr().String()
		} else {
			o.Gossip = busy.Addr().String()
		}
		if _, err := NewBase(o, zap.NewNop(), cluster.Config{}); err == nil || !strings.Contains(err.Error(), "listen on") {
			t.Fatalf("%s port in use: %v", port, err)
		}
		if _, err := os.Stat(o.DataDir); !os.IsNotExist(err) {
			t.Errorf("%s port in use: the data directory was created (%v)", port, err)
		}
	}
}
