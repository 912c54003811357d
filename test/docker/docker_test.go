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
	if out, err := command(30*time.Second, "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("the Docker engine does not answer (docker info: %v): %s", err, firstLine(out))
	}
	if command(30*time.Second, "docker", "compose", "version").Run() == nil {
		return
	}
	if _, err := exec.LookPath("docker-compose"); err == nil && command(30*time.Second, "docker-compose", "version").Run() == nil {
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

func (c *cluster) command(timeout time.Duration, args ...string) *exec.Cmd {
	cmd := command(timeout, "bash", append([]string{c.script}, args...)...)
	cmd.Dir = c.root
	cmd.Env = c.env()
	return cmd
}

// run runs the script and fails the test, with what it printed, if it fails.
func (c *cluster) run(t *testing.T, timeout time.Duration, args ...string) {
	t.Helper()
	if out, err := c.command(timeout, args...).CombinedOutput(); err != nil {
		t.Fatalf("cluster-docker.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// output runs the script and returns its standard output; standard error is in the error.
func (c *cluster) output(timeout time.Duration, args ...string) ([]byte, error) {
	cmd := c.command(timeout, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("cluster-docker.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
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
	ports, err := command(time.Minute, "docker", "ps", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}} {{.Ports}}").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	if bytes.Contains(ports, []byte("0.0.0.0:")) || bytes.Contains(ports, []byte(":::")) {
		t.Errorf("a port is published on every interface:\n%s", ports)
	}
	users, err := command(time.Minute, "docker", "inspect", "--format", "{{.Name}} {{.Config.User}}", project+"_maplb_1").Output()
	if err == nil && !bytes.Contains(users, []byte(" 65532")) {
		t.Errorf("maplb does not run as uid 65532: %s", users)
	}
}

// logImage reports the image's size.
func (c *cluster) logImage(t *testing.T) {
	image := os.Getenv("DLBP_IMAGE")
	if image == "" {
		image = "dlbp:local"
	}
	out, err := command(time.Minute, "docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
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
		out, err := command(time.Minute, "docker", what...).Output()
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

// command is exec.Command bounded by a timeout; a process that outlives it is killed, and
// WaitDelay keeps a grandchild holding its pipes from hanging the test.
func command(timeout time.Duration, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 10 * time.Second
	cmd.Cancel = func() error {
		defer cancel()
		return cmd.Process.Kill()
	}
	// The context is released once its deadline passes; a command that ends sooner leaves it
	// to the timer, which is cheap.
	return cmd
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
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
