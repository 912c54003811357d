// Package docker tests the container deployment end to end: scripts/cluster-docker.sh builds
// the static binaries and the FROM scratch image of the Dockerfile, starts maplb, reducelb and 3
// nodes from deploy/compose.yaml with a generated cluster secret, and the client on this host
// runs wordcount against maplb's published port; the output is compared byte for byte with
// internal/reference. The test skips, saying why, where Docker or a compose tool is missing.
package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
)

// project is the compose project of this test: fixed, so that a run killed before its cleanup
// is cleared by the next one, and apart from the default project a person starts by hand.
const project = "dlbp-test"

// member is one entry of `dlbp nodes --json`.
type member struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	RPC     string `json:"rpc"`
	State   string `json:"state"`
	Running int    `json:"running"`
	Slots   int    `json:"slots"`
}

func TestDockerCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the docker test builds an image and starts 5 containers")
	}
	skipWithoutDocker(t)
	root := moduleRoot(t)
	statInputs(t, root)
	inputs, kind := textInputs(t, root)
	var want bytes.Buffer
	if err := reference.WordCount(inputs, &want); err != nil {
		t.Fatalf("reference wordcount: %v", err)
	}

	c := &cluster{root: root, script: filepath.Join(root, "scripts", "cluster-docker.sh")}
	began := time.Now()
	c.run(t, 2*time.Minute, "down") // whatever an earlier, killed run left
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := c.output(time.Minute, "logs", "--no-color", "--tail", "60"); err == nil || len(out) > 0 {
				t.Logf("container logs:\n%s", out)
			}
		}
		start := time.Now()
		c.run(t, 3*time.Minute, "down")
		t.Logf("down took %v; whole test %v", time.Since(start).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		c.checkRemoved(t)
	})

	start := time.Now()
	c.run(t, 6*time.Minute, "up")
	t.Logf("up (go build, docker build, compose up, 3 nodes alive) took %v", time.Since(start).Round(time.Millisecond))
	c.logImage(t)
	c.checkPublishedOnLoopback(t)
	c.checkNodes(t)

	start = time.Now()
	got := c.mustOutput(t, 2*time.Minute, append([]string{"submit", "--job", "wordcount", "--reducers", "3", "--quiet"}, inputs...)...)
	t.Logf("wordcount R=3 on %s (%d files) took %v: %d bytes of output", kind, len(inputs), time.Since(start).Round(time.Millisecond), len(got))
	sameOutput(t, "wordcount R=3", got, want.Bytes())
}

// skipWithoutDocker skips the test unless the Docker engine answers and a compose tool exists.
func skipWithoutDocker(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"docker", "bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found in PATH: %v", tool, err)
		}
	}
	if _, err := runFor(30*time.Second, nil, "docker", "info"); err != nil {
		t.Skipf("the Docker engine does not answer: %s", oneLine(err.Error(), 300))
	}
	if _, err := runFor(30*time.Second, nil, "docker", "compose", "version"); err == nil {
		return
	}
	if _, err := runFor(30*time.Second, nil, "docker-compose", "version"); err == nil {
		return
	}
	t.Skip("no compose tool: neither 'docker compose' nor 'docker-compose' works")
}

// cluster drives scripts/cluster-docker.sh for this test's compose project.
type cluster struct {
	root, script string
}

// env is the script's environment: this test's project on a free port, whatever the caller's
// shell had set for a cluster of their own.
func (c *cluster) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "DLBP_DOCKER_PROJECT", "DLBP_DOCKER_PORT", "DLBP_DOCKER_HTTP_PORT", "DLBP_LB", "DLBP_SECRET_FILE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DLBP_DOCKER_PROJECT="+project, "DLBP_DOCKER_WAIT=90")
}

// output runs the script and returns its standard output; standard error is in the error.
func (c *cluster) output(timeout time.Duration, args ...string) ([]byte, error) {
	return runFor(timeout, func(cmd *exec.Cmd) {
		cmd.Dir = c.root
		cmd.Env = c.env()
	}, "bash", append([]string{c.script}, args...)...)
}

// run runs the script and fails the test, with what it printed, if it fails.
func (c *cluster) run(t *testing.T, timeout time.Duration, args ...string) {
	t.Helper()
	if out, err := c.output(timeout, args...); err != nil {
		t.Fatalf("%v\nstandard output:\n%s", err, out)
	}
}

func (c *cluster) mustOutput(t *testing.T, timeout time.Duration, args ...string) []byte {
	t.Helper()
	out, err := c.output(timeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNodes checks that `dlbp nodes --json` lists maplb, reducelb and 3 alive nodes, each
// advertising an RPC address that other containers can dial.
func (c *cluster) checkNodes(t *testing.T) {
	t.Helper()
	out := c.mustOutput(t, time.Minute, "dlbp", "nodes", "--json")
	var members []member
	if err := json.Unmarshal(out, &members); err != nil {
		t.Fatalf("dlbp nodes --json: %v\n%s", err, out)
	}
	roles := map[string]int{}
	for _, m := range members {
		if m.State != "alive" {
			t.Errorf("member %s (%s) is %q, want alive", m.Name, m.Role, m.State)
		}
		roles[m.Role]++
		host, _, err := net.SplitHostPort(m.RPC)
		if ip := net.ParseIP(host); err != nil || ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
			t.Errorf("member %s advertises RPC %q, want its container's address", m.Name, m.RPC)
		}
	}
	if roles["node"] != 3 || roles["maplb"] != 1 || roles["reducelb"] != 1 {
		t.Errorf("dlbp nodes --json: roles %v, want 1 maplb, 1 reducelb and 3 nodes\n%s", roles, out)
	}
}

// checkPublishedOnLoopback checks that nothing of the project is published beyond 127.0.0.1
// and that the client is pointed there.
func (c *cluster) checkPublishedOnLoopback(t *testing.T) {
	t.Helper()
	out := c.mustOutput(t, time.Minute, "env")
	if !bytes.Contains(out, []byte("DLBP_LB=127.0.0.1:")) {
		t.Errorf("cluster-docker.sh env: want DLBP_LB on 127.0.0.1, got\n%s", out)
	}
	ports, err := runFor(time.Minute, nil, "docker", "ps", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}} {{.Ports}}")
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	if bytes.Contains(ports, []byte("0.0.0.0:")) || bytes.Contains(ports, []byte(":::")) {
		t.Errorf("a port is published on every interface:\n%s", ports)
	}
	users, err := runFor(time.Minute, nil, "docker", "ps", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}} {{.ID}}")
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(users)), "\n") {
		f := strings.Fields(line)
		user, err := runFor(time.Minute, nil, "docker", "inspect", "--format", "{{.Config.User}}", f[len(f)-1])
		if err != nil || !strings.HasPrefix(string(user), "65532") {
			t.Errorf("container %s does not run as uid 65532: %q %v", f[0], user, err)
		}
	}
}

// logImage reports the image's size.
func (c *cluster) logImage(t *testing.T) {
	image := os.Getenv("DLBP_IMAGE")
	if image == "" {
		image = "dlbp:local"
	}
	out, err := runFor(time.Minute, nil, "docker", "image", "inspect", "--format", "{{.Size}}", image)
	if err != nil {
		t.Errorf("docker image inspect %s: %v", image, err)
		return
	}
	var size int64
	fmt.Sscan(string(out), &size)
	t.Logf("image %s: %.1f MB", image, float64(size)/1e6)
}

// checkRemoved checks that down left no container, network or volume of the project behind.
func (c *cluster) checkRemoved(t *testing.T) {
	t.Helper()
	label := "label=com.docker.compose.project=" + project
	for _, what := range [][]string{
		{"ps", "--all", "--quiet", "--filter", label},
		{"network", "ls", "--quiet", "--filter", label},
		{"volume", "ls", "--quiet", "--filter", label},
	} {
		out, err := runFor(time.Minute, nil, "docker", what...)
		if err != nil {
			t.Errorf("docker %s: %v", strings.Join(what, " "), err)
		} else if len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("down left %s behind: %s", what[0], bytes.Fields(out))
		}
	}
	if _, err := os.Stat(filepath.Join(c.root, "bin", "docker", project)); !os.IsNotExist(err) {
		t.Errorf("down left the secret's directory bin/docker/%s behind (stat: %v)", project, err)
	}
}

// runFor runs a command, killed if it outlives timeout, and returns its standard output; its
// standard error is in the error. setup, if not nil, adjusts the command before it starts.
// WaitDelay keeps a grandchild that holds the pipes from hanging the test.
func runFor(timeout time.Duration, setup func(*exec.Cmd), name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 10 * time.Second
	if setup != nil {
		setup(cmd)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// oneLine joins s onto one line of at most n bytes, for a skip message.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// statInputs stats every file the script builds from: go test caches a passing result for as
// long as the files the test itself opened or stat'ed are unchanged, and it cannot see what the
// script reads; so a change to a daemon's code, the Dockerfile or the compose file must be a
// change it sees.
func statInputs(t *testing.T, root string) {
	t.Helper()
	for _, f := range []string{"go.mod", "go.sum", "Dockerfile", ".dockerignore", "deploy/compose.yaml", "scripts/cluster-docker.sh"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"cmd", "pkg", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.Stat(path)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// moduleRoot walks up from the working directory to the directory that holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// textInputs returns the Gutenberg texts beside the checkout, or else a generated corpus.
func textInputs(t *testing.T, root string) ([]string, string) {
	t.Helper()
	texts, _ := filepath.Glob(filepath.Join(root, "..", "shared", "data", "gutenberg", "*.txt"))
	if len(texts) > 0 {
		return texts, "the Gutenberg texts"
	}
	path := filepath.Join(t.TempDir(), "corpus.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := corpus.Generate(w, 4<<20, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return []string{path}, "a generated 4 MiB corpus"
}

// sameOutput fails the test at the first line where got and want differ.
func sameOutput(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			t.Fatalf("%s: output differs from the reference at line %d: got %q, want %q (%d vs %d bytes)", what, i+1, gl, wl, len(got), len(want))
		}
	}
	t.Fatalf("%s: output differs from the reference (%d vs %d bytes)", what, len(got), len(want))
}
