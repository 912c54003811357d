// Package s3test starts a real S3 server for tests: SeaweedFS's `weed mini`, bound to
// 127.0.0.1 on free ports, with its data in the test's temporary directory, credentials of its
// own and one bucket. Tests skip, saying why, where the binary is absent (scripts/seaweedfs.sh
// builds it; $DLBP_WEED names another).
package s3test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Version is the SeaweedFS module version scripts/seaweedfs.sh builds.
const Version = "v0.0.0-20261109003541-7506e5f91cd6"

// Server is a running S3 server.
type Server struct {
	Endpoint  string // host:port of the S3 API, plain HTTP
	AccessKey string
	SecretKey string
	Bucket    string // created at start
	Region    string
}

// Binary returns the path of the weed binary, or an error saying how to get one.
func Binary() (string, error) {
	if p := os.Getenv("DLBP_WEED"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("no SeaweedFS at $DLBP_WEED: %v", err)
		}
		return p, nil
	}
	cache := os.Getenv("DLBP_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(dir, "dlbp")
	}
	p := filepath.Join(cache, "seaweedfs-"+Version, "weed")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no SeaweedFS at %s (scripts/seaweedfs.sh builds it, or set $DLBP_WEED)", p)
	}
	return p, nil
}

// Start starts a server that stops when tb ends, or skips tb when there is no weed binary.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Skip(err)
	}
	s := &Server{AccessKey: "dlbptest", SecretKey: "dlbptest-secret-" + strconv.Itoa(rand.IntN(1<<30)), Bucket: "dlbp-test", Region: "us-east-1"}
	ports := freePorts(tb, 5)
	dir := tb.TempDir()
	args := []string{"mini", "-dir=" + dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + ports[0], "-volume.port=" + ports[1], "-filer.port=" + ports[2], "-s3.port=" + ports[3],
		"-admin.port=" + ports[4], "-admin.port.legacy=0", "-admin.ui=false", "-s3.port.lance=0", "-s3.port.iceberg=0",
		"-webdav=false", "-bucket=" + s.Bucket}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey)
	log, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		log.Close()
	})
	s.Endpoint = "127.0.0.1:" + ports[3]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// The S3 port answers (any status) once the gateway is up; the bucket is created by then.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Endpoint+"/status", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return s
			}
		}
		select {
		case err := <-exited:
			data, _ := os.ReadFile(log.Name())
			tb.Fatalf("weed mini exited: %v\n%s", err, tail(data))
		case <-ctx.Done():
			data, _ := os.ReadFile(log.Name())
			tb.Fatalf("weed mini's S3 port %s did not answer in 60 s\n%s", s.Endpoint, tail(data))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 3000 {
		return b[len(b)-3000:]
	}
	return b
}

// freePorts returns n ports below 45535 that are free now, each with its gRPC twin
// (port + 10000, as SeaweedFS binds) free too.
func freePorts(tb testing.TB, n int) []string {
	tb.Helper()
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			tb.Fatal("no free ports for SeaweedFS")
		}
		p := 20000 + rand.IntN(25000)
		if free(p) && free(p+10000) {
			out = append(out, strconv.Itoa(p))
		}
	}
	return out
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
