package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonsRefuseOpenAddressWithoutSecret runs each real daemon binary asked to listen on a
// non-loopback address (0.0.0.0) without a cluster secret: it must exit at once, non-zero,
// saying why, and leave nothing listening. The same command with a secret file starts (the
// daemon writes its addresses), which shows the refusal comes from the missing secret.
func TestDaemonsRefuseOpenAddressWithoutSecret(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, daemon := range []string{"maplb", "reducelb", "node"} {
		for _, open := range []string{"rpc", "gossip", "http"} {
			t.Run(daemon+"/"+open, func(t *testing.T) {
				args := func(dir string) []string {
					a := map[string]string{"rpc": "127.0.0.1:0", "gossip": "127.0.0.1:0", "http": "127.0.0.1:0"}
					a[open] = "0.0.0.0:0"
					return []string{"--name", daemon + "-open", "--data-dir", dir,
						"--rpc", a["rpc"], "--gossip", a["gossip"], "--http", a["http"]}
				}
				dir := t.TempDir()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, filepath.Join(binDir, daemon), args(dir)...)
				cmd.Env = append(os.Environ(), "DLBP_SECRET_FILE=")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || ctx.Err() != nil {
					t.Fatalf("%s with --%s 0.0.0.0:0 and no secret: %v (want a non-zero exit at once); stderr:\n%s", daemon, open, err, stderr.String())
				}
				want := "refusing to listen on 0.0.0.0:0 (--" + open + ") without a cluster secret"
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("%s exited %d; stderr does not say %q:\n%s", daemon, exit.ExitCode(), want, stderr.String())
				}
				if _, err := os.Stat(filepath.Join(dir, "addrs.json")); err == nil {
					t.Errorf("%s wrote addrs.json although it refused to start", daemon)
				}

				// The control: with a secret, the same addresses are accepted.
				dir = t.TempDir()
				cmd = exec.Command(filepath.Join(binDir, daemon), append(args(dir), "--secret-file", secret)...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				waitUntil(t, 15*time.Second, daemon+" started with a secret", func() (bool, string) {
					select {
					case err := <-exited:
						exited <- err
						t.Fatalf("%s with a secret exited: %v\n%s", daemon, err, out.String())
					default:
					}
					_, err := os.Stat(filepath.Join(dir, "addrs.json"))
					return err == nil, "no addrs.json yet"
				})
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					cmd.Process.Kill()
					t.Errorf("%s did not stop on SIGTERM", daemon)
					<-exited
				}
			})
		}
	}
}
