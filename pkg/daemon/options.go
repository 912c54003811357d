// Package daemon is what the three dlbp daemons share: their options (flags
// and YAML config), logging, the RPC listener, gossip membership, the HTTP
// health endpoints, and the signal handling of a graceful shutdown.
package daemon

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dlbp/dlbp/pkg/cluster"
)

// ErrUsage marks an error in the command line or config file.
var ErrUsage = errors.New("usage")

// Options are a daemon's settings, from defaults, then a YAML file given
// with --config, then flags (flags win).
type Options struct {
	Role          cluster.Role `yaml:"-"`
	RPC           string       `yaml:"rpc"`
	Gossip        string       `yaml:"gossip"`
	Join          []string     `yaml:"join"`
	Name          string       `yaml:"name"`
	DataDir       string       `yaml:"data-dir"`
	HTTP          string       `yaml:"http"`
	SecretFile    string       `yaml:"secret-file"`
	Insecure      bool         `yaml:"insecure"`
	TLSCert       string       `yaml:"tls-cert"`
	TLSKey        string       `yaml:"tls-key"`
	TLSCA         string       `yaml:"tls-ca"`
	LogLevel      string       `yaml:"log-level"`
	LogFormat     string       `yaml:"log-format"`
	Mode          string       `yaml:"mode"`            // maplb only
	Slots         int          `yaml:"slots"`           // node only
	Memory        string       `yaml:"memory"`          // node only: bytes, with an optional KiB/MiB/GiB suffix
	ResultTTL     string       `yaml:"result-ttl"`      // maplb only: how long finished jobs' results are kept
	MaxJobInput   string       `yaml:"max-job-input"`   // maplb only: input bytes one job may upload
	MaxClientJobs int          `yaml:"max-client-jobs"` // maplb only: unfinished jobs one client host may have
	AllowExec     bool         `yaml:"allow-exec"`      // node and maplb: run users' native programs
	TaskMemory    string       `yaml:"task-memory"`     // node and maplb: memory of one WebAssembly instance
	MaxTaskOutput string       `yaml:"max-task-output"` // node and maplb: bytes one user program may write
	ModuleCache   string       `yaml:"module-cache"`    // node and maplb: compiled WebAssembly modules
	MinFreeDisk   string       `yaml:"min-free-disk"`   // node only: free space below which it takes no task
	StallTimeout  string       `yaml:"stall-timeout"`   // reducelb only: how long a reduce or copy may make no progress
	Config        string       `yaml:"-"`

	// Set by Parse from the fields above.
	Secret      []byte        `yaml:"-"`
	ServerTLS   *tls.Config   `yaml:"-"`
	ClientTLS   *tls.Config   `yaml:"-"`
	MemoryBytes int64         `yaml:"-"`
	ResultKeep  time.Duration `yaml:"-"`
	// LeaveGrace is how long the load balancers wait before a node that
	// left without draining is treated as gone (DefaultLeaveGrace).
	LeaveGrace time.Duration `yaml:"-"`
	// ProbeInterval is how often the load balancers probe each node's
	// service (DefaultProbeInterval); a refused connection moves the
	// node's work at once.
	ProbeInterval      time.Duration `yaml:"-"`
	MaxJobBytes        int64         `yaml:"-"`
	TaskMemoryBytes    int64         `yaml:"-"`
	MaxTaskOutputBytes int64         `yaml:"-"`
	// MinFreeDiskBytes is MinFreeDisk; -1 when automatic (DefaultMinFreeDisk or 5% of the
	// data directory's filesystem, whichever is less).
	MinFreeDiskBytes int64 `yaml:"-"`
	// Stall is StallTimeout (DefaultStallTimeout).
	Stall time.Duration `yaml:"-"`
}

// DefaultStallTimeout is how long reducelb lets a reducer or a copier of a part go without
// progress (as Hadoop's mapreduce.task.timeout) before it gives the work to another node.
const DefaultStallTimeout = 10 * time.Minute

// DefaultMinFreeDisk is the most free space a node keeps for itself by default; on a small
// filesystem, 5% of it.
const DefaultMinFreeDisk = 1 << 30

// Defaults returns the options a daemon of role has with no flags: all on
// loopback, nodes and reducelb joining the default maplb gossip address.
func Defaults(role cluster.Role) Options {
	o := Options{Role: role, LogLevel: "info", LogFormat: "console", Slots: 2, Memory: "256MiB", MemoryBytes: 256 << 20, Mode: "dlbp", ResultTTL: "24h", ResultKeep: 24 * time.Hour,
		MaxJobInput: "1TiB", MaxJobBytes: 1 << 40, MaxClientJobs: 64, LeaveGrace: DefaultLeaveGrace, ProbeInterval: DefaultProbeInterval,
		TaskMemory: "256MiB", TaskMemoryBytes: 256 << 20, MaxTaskOutput: "10GiB", MaxTaskOutputBytes: 10 << 30, MinFreeDisk: "auto", MinFreeDiskBytes: -1,
		StallTimeout: DefaultStallTimeout.String(), Stall: DefaultStallTimeout}
	switch role {
	case cluster.RoleMapLB:
		o.RPC, o.Gossip, o.HTTP = "127.0.0.1:7070", "127.0.0.1:7946", "127.0.0.1:7071"
	case cluster.RoleReduceLB:
		o.RPC, o.Gossip = "127.0.0.1:7080", "127.0.0.1:7947"
		o.Join = []string{"127.0.0.1:7946"}
	default:
		o.RPC, o.Gossip = "127.0.0.1:0", "127.0.0.1:0"
		o.Join = []string{"127.0.0.1:7946"}
	}
	return o
}

// roleKeys lists the option names a role accepts beyond the common ones.
var roleKeys = map[cluster.Role][]string{
	cluster.RoleMapLB:    {"mode", "result-ttl", "max-job-input", "max-client-jobs", "allow-exec", "task-memory", "max-task-output", "module-cache"},
	cluster.RoleReduceLB: {"stall-timeout"},
	cluster.RoleNode:     {"slots", "memory", "allow-exec", "task-memory", "max-task-output", "module-cache", "min-free-disk"},
}

// commonKeys lists the option names every daemon accepts.
var commonKeys = []string{"rpc", "gossip", "join", "name", "data-dir", "http", "secret-file", "insecure", "tls-cert", "tls-key", "tls-ca", "log-level", "log-format"}

func accepts(role cluster.Role, key string) bool {
	for _, k := range append(commonKeys, roleKeys[role]...) {
		if k == key {
			return true
		}
	}
	return false
}

// ErrVersion is Parse's answer to --version: the caller prints the build and exits 0.
var ErrVersion = errors.New("--version")

// Parse reads a daemon's command line (and the config file it names).
// Errors wrap ErrUsage.
func Parse(role cluster.Role, args []string, stderr io.Writer) (*Options, error) {
	o := Defaults(role)
	f := Defaults(role) // flag values; copied over o when set
	fs := flag.NewFlagSet(string(role), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var join string
	fs.StringVar(&f.RPC, "rpc", f.RPC, "RPC listen address HOST:PORT (port 0: any)")
	fs.StringVar(&f.Gossip, "gossip", f.Gossip, "gossip listen address HOST:PORT (port 0: any)")
	fs.StringVar(&join, "join", strings.Join(f.Join, ","), "gossip addresses of members to join, HOST:PORT[,HOST:PORT]")
	fs.StringVar(&f.Name, "name", "", "unique member name (default: role, host name and a random suffix)")
	fs.StringVar(&f.DataDir, "data-dir", "", "directory for this daemon's data (default ./dlbp-data/NAME)")
	fs.StringVar(&f.HTTP, "http", f.HTTP, "HTTP listen address HOST:PORT for /healthz, /readyz and /metrics, and on maplb the dashboard at / (empty: off)")
	fs.StringVar(&f.SecretFile, "secret-file", "", "file holding the cluster secret")
	fs.BoolVar(&f.Insecure, "insecure", false, "allow non-loopback addresses without a cluster secret")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "PEM certificate for RPC over mutual TLS (with --tls-key and --tls-ca)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&f.TLSCA, "tls-ca", "", "PEM certificate of the CA that signs every member's certificate")
	fs.StringVar(&f.LogLevel, "log-level", f.LogLevel, "debug, info, warn or error")
	fs.StringVar(&f.LogFormat, "log-format", f.LogFormat, "console or json")
	fs.StringVar(&f.Config, "config", "", "YAML config file (flags override it)")
	showVersion := fs.Bool("version", false, "print the version, commit and Go version of this build, and exit")
	if role == cluster.RoleMapLB {
		fs.StringVar(&f.Mode, "mode", f.Mode, "dlbp (reducers picked by reducelb) or single (maplb reduces)")
		fs.StringVar(&f.ResultTTL, "result-ttl", f.ResultTTL, "how long a finished job and its result are kept (Go duration)")
		fs.StringVar(&f.MaxJobInput, "max-job-input", f.MaxJobInput, "input bytes one job may upload (KiB, MiB, GiB, TiB suffixes)")
		fs.IntVar(&f.MaxClientJobs, "max-client-jobs", f.MaxClientJobs, "unfinished jobs one client host may have at once")
	}
	if role == cluster.RoleReduceLB {
		fs.StringVar(&f.StallTimeout, "stall-timeout", f.StallTimeout, "how long a reducer, or a node copying a part, may go without progress (no byte gathered, reduced, written or copied; or no answer to reducelb's check every few seconds) before its work goes to another node (Go duration)")
	}
	if role == cluster.RoleNode {
		fs.IntVar(&f.Slots, "slots", f.Slots, "tasks run at once")
		fs.StringVar(&f.Memory, "memory", f.Memory, "map output held in memory before it spills to disk (bytes; KiB, MiB, GiB suffixes)")
		fs.StringVar(&f.MinFreeDisk, "min-free-disk", f.MinFreeDisk, "free space of the data directory's disk below which the node takes no new task and says so in its metadata, until space returns (KiB, MiB, GiB suffixes; auto: 1GiB or 5% of the disk, whichever is less; 0: never)")
	}
	if role == cluster.RoleNode || role == cluster.RoleMapLB {
		// maplb runs user reducers in mode single.
		fs.BoolVar(&f.AllowExec, "allow-exec", false, "run user jobs' native programs (--mapper 'python3 m.py'): only on a cluster whose users you trust; WebAssembly modules run sandboxed without it")
		fs.StringVar(&f.TaskMemory, "task-memory", f.TaskMemory, "memory limit of one user WebAssembly instance (KiB, MiB, GiB suffixes)")
		fs.StringVar(&f.MaxTaskOutput, "max-task-output", f.MaxTaskOutput, "bytes one user program may write before its attempt fails (KiB, MiB, GiB, TiB suffixes)")
		fs.StringVar(&f.ModuleCache, "module-cache", "", "directory of compiled user WebAssembly modules (default DATA-DIR/wasm-cache); daemons on one host may share one, so a module is compiled once per host")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *showVersion {
		return nil, ErrVersion
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if f.Config != "" {
		if err := loadFile(&o, f.Config); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	f.Join = splitList(join)
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "rpc":
			o.RPC = f.RPC
		case "gossip":
			o.Gossip = f.Gossip
		case "join":
			o.Join = f.Join
		case "name":
			o.Name = f.Name
		case "data-dir":
			o.DataDir = f.DataDir
		case "http":
			o.HTTP = f.HTTP
		case "secret-file":
			o.SecretFile = f.SecretFile
		case "insecure":
			o.Insecure = f.Insecure
		case "tls-cert":
			o.TLSCert = f.TLSCert
		case "tls-key":
			o.TLSKey = f.TLSKey
		case "tls-ca":
			o.TLSCA = f.TLSCA
		case "log-level":
			o.LogLevel = f.LogLevel
		case "log-format":
			o.LogFormat = f.LogFormat
		case "mode":
			o.Mode = f.Mode
		case "slots":
			o.Slots = f.Slots
		case "memory":
			o.Memory = f.Memory
		case "result-ttl":
			o.ResultTTL = f.ResultTTL
		case "max-job-input":
			o.MaxJobInput = f.MaxJobInput
		case "max-client-jobs":
			o.MaxClientJobs = f.MaxClientJobs
		case "allow-exec":
			o.AllowExec = f.AllowExec
		case "task-memory":
			o.TaskMemory = f.TaskMemory
		case "max-task-output":
			o.MaxTaskOutput = f.MaxTaskOutput
		case "module-cache":
			o.ModuleCache = f.ModuleCache
		case "min-free-disk":
			o.MinFreeDisk = f.MinFreeDisk
		case "stall-timeout":
			o.StallTimeout = f.StallTimeout
		}
	})
	o.Config = f.Config
	if err := o.finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return &o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadFile reads a YAML config onto o; an unknown key is an error that
// names it.
func loadFile(o *Options, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var keys map[string]yaml.Node
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !accepts(o.Role, k) {
			return fmt.Errorf("config %s: key %q is not a %s setting", path, k, o.Role)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(o); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// finish validates the options and derives the secret, name and data dir.
func (o *Options) finish() error {
	for _, a := range []struct{ flag, addr string }{{"rpc", o.RPC}, {"gossip", o.Gossip}, {"http", o.HTTP}} {
		if a.addr == "" && a.flag == "http" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("--%s %q: want HOST:PORT", a.flag, a.addr)
		}
	}
	for _, j := range o.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("--join %q: want HOST:PORT", j)
		}
	}
	if o.Role == cluster.RoleMapLB && o.Mode != "dlbp" && o.Mode != "single" {
		return fmt.Errorf("--mode %q: want dlbp or single", o.Mode)
	}
	if o.Slots < 1 || o.Slots > 1024 {
		return fmt.Errorf("--slots %d: want 1 to 1024", o.Slots)
	}
	mem, err := ParseBytes(o.Memory)
	if err != nil || mem < 1<<20 {
		return fmt.Errorf("--memory %q: want a size of at least 1MiB", o.Memory)
	}
	o.MemoryBytes = mem
	if o.Stall, err = time.ParseDuration(o.StallTimeout); err != nil || o.Stall <= 0 {
		return fmt.Errorf("--stall-timeout %q: want a positive duration such as 90s or 10m", o.StallTimeout)
	}
	if o.ResultKeep, err = time.ParseDuration(o.ResultTTL); err != nil || o.ResultKeep <= 0 {
		return fmt.Errorf("--result-ttl %q: want a positive duration such as 30m or 24h", o.ResultTTL)
	}
	if o.MaxJobBytes, err = ParseBytes(o.MaxJobInput); err != nil || o.MaxJobBytes < 1 {
		return fmt.Errorf("--max-job-input %q: want a size such as 100GiB", o.MaxJobInput)
	}
	if o.TaskMemoryBytes, err = ParseBytes(o.TaskMemory); err != nil || o.TaskMemoryBytes < 1<<20 || o.TaskMemoryBytes > 4<<30 {
		return fmt.Errorf("--task-memory %q: want a size from 1MiB to 4GiB", o.TaskMemory)
	}
	if o.MaxTaskOutputBytes, err = ParseBytes(o.MaxTaskOutput); err != nil || o.MaxTaskOutputBytes < 1 {
		return fmt.Errorf("--max-task-output %q: want a size such as 10GiB", o.MaxTaskOutput)
	}
	if o.MinFreeDisk == "auto" || o.MinFreeDisk == "" {
		o.MinFreeDiskBytes = -1
	} else if o.MinFreeDiskBytes, err = ParseBytes(o.MinFreeDisk); err != nil || o.MinFreeDiskBytes < 0 {
		return fmt.Errorf("--min-free-disk %q: want auto, 0 or a size such as 2GiB", o.MinFreeDisk)
	}
	if o.MaxClientJobs < 1 {
		return fmt.Errorf("--max-client-jobs %d: want at least 1", o.MaxClientJobs)
	}
	switch o.LogFormat {
	case "console", "json":
	default:
		return fmt.Errorf("--log-format %q: want console or json", o.LogFormat)
	}
	if o.SecretFile != "" {
		s, err := os.ReadFile(o.SecretFile)
		if err != nil {
			return fmt.Errorf("--secret-file: %w", err)
		}
		o.Secret = bytes.TrimSpace(s)
		if len(o.Secret) < 16 {
			return fmt.Errorf("--secret-file %s: the secret must be at least 16 bytes", o.SecretFile)
		}
	}
	if o.ServerTLS, o.ClientTLS, err = LoadTLS(o.TLSCert, o.TLSKey, o.TLSCA); err != nil {
		return err
	}
	if len(o.Secret) == 0 && !o.Insecure {
		for _, a := range []struct{ flag, addr string }{{"rpc", o.RPC}, {"gossip", o.Gossip}, {"http", o.HTTP}} {
			if a.addr != "" && !isLoopback(a.addr) {
				return fmt.Errorf("refusing to listen on %s (--%s) without a cluster secret: give --secret-file FILE, or --insecure to accept anyone", a.addr, a.flag)
			}
		}
	}
	if o.Name == "" {
		host, _ := os.Hostname()
		o.Name = fmt.Sprintf("%s-%s-%s", o.Role, host, randomSuffix())
		if o.Role != cluster.RoleNode {
			o.Name = fmt.Sprintf("%s-%s", o.Role, host)
		}
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join("dlbp-data", o.Name)
	}
	return nil
}

// isLoopback reports whether a listen address stays on this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseBytes parses a size such as 1048576, 64KiB, 256MiB, 1GiB, 4MB.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
