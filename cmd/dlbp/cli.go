package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// Exit statuses (DESIGN.md).
const (
	exitOK          = 0
	exitJobFailed   = 1
	exitUsage       = 2
	exitUnreachable = 3
	// exitInterrupted: Ctrl-C (SIGINT) stopped the client; the job goes on unless
	// --cancel-on-interrupt cancelled it (128 + SIGINT, as a shell reports it).
	exitInterrupted = 130
)

const usage = `usage:
  dlbp submit [--lb HOST:PORT] --job NAME [--param KEY=VALUE]... [--reducers R]
              [--split-size BYTES] [--output DIR|-] [--force] [--detach] [--quiet]
              [--fetch direct|lb] [--cancel-on-interrupt] [INPUT...]
  dlbp submit --mapper CMD --reducer CMD [--combiner CMD] [--file F]...
              [--max-attempts N] [--task-timeout DURATION] [the options above] INPUT...
  dlbp wait JOB [--output DIR|-] [--force] [--quiet] [--fetch direct|lb]
              [--cancel-on-interrupt]
  dlbp status JOB [--json]
  dlbp jobs [--json]             dlbp jobs --list (the built-in jobs, their parameters, examples)
  dlbp nodes [--json]
  dlbp cancel JOB
  dlbp version
  dlbp help [COMMAND]            one command's flags and examples

--lb defaults to $DLBP_LB, then 127.0.0.1:7070; --secret-file to $DLBP_SECRET_FILE.
Ctrl-C on submit or wait leaves the job running and says how to follow it (dlbp wait JOB) or
stop it (dlbp cancel JOB), exit status 130; --cancel-on-interrupt cancels it instead.
Exit status: 0 done, 1 the job failed, 2 usage error, 3 maplb unreachable, 130 interrupted.
--fetch direct (the default) reads the result's parts from the nodes that hold them, and
through maplb when they do not answer; --fetch lb reads them all through maplb.
INPUT is a file, or - for standard input. Jobs: ` + "%s" + `.
A user job runs your own programs over Hadoop Streaming's contract: a CMD whose first word
ends in .wasm is a WebAssembly module (WASI), e.g. --mapper 'wc.wasm map'; any other is a
native program, run only by nodes started with --allow-exec.
`

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	verbose        *bool // --verbose: report adds the whole error
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin, stdout, stderr, new(bool)}
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, strings.Join(job.Names(), ", "))
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help":
		return e.help(nil)
	case "help":
		return e.help(args[1:])
	case "--version", "-version":
		args = []string{"version"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the client at once
	}()
	cmds := map[string]func(context.Context, []string) error{
		"submit": e.submit, "wait": e.wait, "status": e.status,
		"jobs": e.jobs, "nodes": e.nodes, "cancel": e.cancel, "version": e.version,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dlbp: no command %q (commands: %s; dlbp help shows them all)\n", args[0], strings.Join(commandNames(), ", "))
		return exitUsage
	}
	err := cmd(ctx, args[1:])
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return report(stderr, args[0], err, ctx.Err() != nil, *e.verbose)
}

// common holds the flags every command has.
type common struct {
	lb, secretFile         string
	tlsCert, tlsKey, tlsCA string
	quiet                  bool
	fetch                  string // submit and wait: where the result is read
}

// fetchFlag adds --fetch, for the commands that read a result.
func (c *common) fetchFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.fetch, "fetch", client.FetchDirect, "`direct|lb`: the result's parts read from the nodes that hold them, or all through maplb")
}

func (e env) flags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by report; help by printHelp
	fs.Usage = func() {}
	lb := os.Getenv("DLBP_LB")
	if lb == "" {
		lb = "127.0.0.1:7070"
	}
	fs.StringVar(&c.lb, "lb", lb, "the `HOST:PORT` of maplb")
	fs.StringVar(&c.secretFile, "secret-file", os.Getenv("DLBP_SECRET_FILE"), "`FILE` holding the cluster secret")
	fs.StringVar(&c.tlsCert, "tls-cert", os.Getenv("DLBP_TLS_CERT"), "client certificate `FILE` for mutual TLS")
	fs.StringVar(&c.tlsKey, "tls-key", os.Getenv("DLBP_TLS_KEY"), "key `FILE` of --tls-cert")
	fs.StringVar(&c.tlsCA, "tls-ca", os.Getenv("DLBP_TLS_CA"), "`FILE` of the CA certificate that signs the cluster's certificates")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress")
	fs.BoolVar(e.verbose, "verbose", false, "on an error, also print its whole text (addresses, RPC methods, codes)")
	return fs
}

// parse parses flags and positional arguments in any order; --help prints the command's help.
func (e env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(e.stdout, fs.Name(), fs)
				return nil, err
			}
			return nil, usagef("%s", flagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagError words the flag package's errors as users type flags: "--name", not "-name".
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "no flag --" + name
	}
	msg = strings.Replace(msg, " for flag -", " for --", 1)
	return strings.Replace(msg, "flag needs an argument: -", "flag needs an argument: --", 1)
}

func (c *common) client() (*client.Client, error) {
	switch c.fetch {
	case "", client.FetchDirect, client.FetchLB:
	default:
		return nil, usagef("--fetch %s: want direct or lb", c.fetch)
	}
	var secret []byte
	if c.secretFile != "" {
		s, err := os.ReadFile(c.secretFile)
		if err != nil {
			return nil, usagef("--secret-file: %v", err)
		}
		secret = []byte(strings.TrimSpace(string(s)))
	}
	_, tlsCfg, err := daemon.LoadTLS(c.tlsCert, c.tlsKey, c.tlsCA)
	if err != nil {
		return nil, usagef("%v", err)
	}
	cl := client.NewTLS(c.lb, secret, tlsCfg)
	cl.Fetch = c.fetch
	return cl, nil
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// jobTitle names a job for people: a built-in by its name, a user job by its commands.
func jobTitle(st *protocol.JobStatus) string {
	if st.Stream == nil {
		return st.Job
	}
	t := "mapper '" + st.Stream.Mapper.String() + "'"
	if !st.Stream.Combiner.IsZero() {
		t += ", combiner '" + st.Stream.Combiner.String() + "'"
	}
	return t + ", reducer '" + st.Stream.Reducer.String() + "'"
}

type params map[string]string

func (p params) String() string { return "" }
func (p params) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	p[k] = v
	return nil
}

func (e env) submit(ctx context.Context, args []string) error {
	var c common
	fs := e.flags("submit", &c)
	c.fetchFlag(fs)
	name := fs.String("job", "", "the built-in job to run, by `NAME`: "+strings.Join(job.Names(), ", ")+" (dlbp jobs --list)")
	ps := params{}
	fs.Var(ps, "param", "a job parameter, `KEY=VALUE` (repeatable; dlbp jobs --list shows each job's)")
	reducers := fs.Int("reducers", 1, "`R`, the number of reduce partitions (and of part files)")
	split := fs.String("split-size", "0", "`BYTES` of input per map task (KiB, MiB, GiB suffixes; 0: chosen by maplb)")
	output := fs.String("output", "-", "`DIR` for part-NNNNN files and _SUCCESS, or - for standard output")
	force := fs.Bool("force", false, "let --output DIR replace a non-empty directory")
	detach := fs.Bool("detach", false, "print the job id and return without waiting")
	cancelOnInt := fs.Bool("cancel-on-interrupt", false, "cancel the job on Ctrl-C (by default Ctrl-C leaves it running and says how to follow it)")
	var user client.UserJob
	fs.StringVar(&user.Mapper, "mapper", "", "user job: the mapper `CMD` (a .wasm module and its arguments, or a native program)")
	fs.StringVar(&user.Reducer, "reducer", "", "user job: the reducer `CMD`")
	fs.StringVar(&user.Combiner, "combiner", "", "user job: an optional combiner `CMD`")
	files := listFlag{}
	fs.Var(&files, "file", "user job: a `FILE` shipped into every native task's working directory (repeatable)")
	fs.IntVar(&user.MaxAttempts, "max-attempts", job.DefaultMaxAttempts, "user job: `N` failed attempts of one task fail the job")
	fs.DurationVar(&user.TaskTimeout, "task-timeout", job.DefaultTaskTimeout, "user job: stop an attempt that neither reads input nor writes output for this `DURATION`")
	paths, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	user.Files = files
	isUser := user.Mapper != "" || user.Reducer != "" || user.Combiner != ""
	switch {
	case *name != "" && isUser:
		return usagef("--job and --mapper are exclusive: --job runs a built-in job, --mapper and --reducer your own programs")
	case isUser && (user.Mapper == "" || user.Reducer == ""):
		return usagef("a user job needs both --mapper and --reducer")
	case *name == "" && !isUser:
		return usagef("--job is required (one of %s), or --mapper and --reducer for your own programs", strings.Join(job.Names(), ", "))
	case !isUser && len(files) > 0:
		return usagef("--file is for user jobs (--mapper, --reducer)")
	}
	if user.MaxAttempts < 1 || user.MaxAttempts > job.MaxAttemptsLimit {
		return usagef("--max-attempts %d: want 1 to %d", user.MaxAttempts, job.MaxAttemptsLimit)
	}
	if user.TaskTimeout <= 0 {
		return usagef("--task-timeout %s: want a positive duration such as 10m", user.TaskTimeout)
	}
	if *reducers < 1 {
		return usagef("--reducers %d: want at least 1", *reducers)
	}
	splitSize, err := daemon.ParseBytes(*split)
	if err != nil {
		return usagef("--split-size: %v", err)
	}
	if *output != "-" {
		if err := client.CheckOutputDir(*output, *force); err != nil {
			return usagef("%v", err)
		}
	}
	inputs, err := client.FileInputs(paths, e.stdin)
	if err != nil {
		return usagef("%v", err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	spec := job.Spec{Job: *name, Params: ps, Reducers: *reducers}
	if len(ps) == 0 {
		spec.Params = nil
	}
	var st *protocol.JobStatus
	if isUser {
		if _, _, err := user.Stream(); err != nil {
			return usagef("%v", err) // a missing module or file, before anything is sent
		}
		st, err = cl.SubmitUser(ctx, spec, user, splitSize, inputs)
	} else {
		st, err = cl.Submit(ctx, spec, splitSize, inputs)
	}
	if err != nil && ctx.Err() != nil {
		return &interruptedError{before: true}
	}
	if err != nil {
		return err
	}
	if *detach {
		fmt.Fprintln(e.stdout, st.ID)
		return nil
	}
	if !c.quiet {
		fmt.Fprintf(e.stderr, "dlbp: job %s submitted (%s, %s)\n", st.ID, jobTitle(st), plural(st.MapsTotal, "map task"))
	}
	return e.finish(ctx, cl, st.ID, *output, c.quiet, *cancelOnInt)
}

// plural says n things: "1 map task", "8 map tasks".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// interruptedError is a Ctrl-C that stopped the client (exit status 130): before the job was
// accepted (nothing runs), while it ran (it goes on, or was cancelled), or while its result was
// written (it had succeeded).
type interruptedError struct {
	id        string
	before    bool  // the job was not accepted yet
	succeeded bool  // the job had succeeded: its result was being written
	cancelled bool  // --cancel-on-interrupt cancelled it
	cancelErr error // why it could not be
}

func (e *interruptedError) Error() string {
	switch {
	case e.before:
		return "dlbp: interrupted before the job was accepted: no job runs (maplb drops what was uploaded)\n"
	case e.succeeded:
		return fmt.Sprintf("dlbp: interrupted while writing the result of job %s, which succeeded; to print it again:\n  dlbp wait %s\n", e.id, e.id)
	case e.cancelled:
		return fmt.Sprintf("dlbp: interrupted: job %s cancelled (--cancel-on-interrupt)\n", e.id)
	case e.cancelErr != nil:
		return fmt.Sprintf("dlbp: interrupted: cancelling job %s failed (%v); it may go on. To stop it:\n  dlbp cancel %s\n", e.id, e.cancelErr, e.id)
	}
	return fmt.Sprintf("dlbp: interrupted: job %s goes on without this client.\n  dlbp wait %s      follows it again and prints its result\n  dlbp cancel %s    stops it\n", e.id, e.id, e.id)
}

// finish waits for a job and writes its result. On Ctrl-C (ctx ends) it leaves the job running,
// or cancels it when cancelOnInt, and says so.
func (e env) finish(ctx context.Context, cl *client.Client, id, output string, quiet, cancelOnInt bool) error {
	p := newProgress(e.stderr, quiet)
	st, err := cl.Wait(ctx, id, p.update)
	p.done()
	if err != nil && ctx.Err() != nil {
		ie := &interruptedError{id: id}
		if cancelOnInt {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, ie.cancelErr = cl.Cancel(cctx, id)
			ie.cancelled = ie.cancelErr == nil
		}
		return ie
	}
	if err != nil {
		return err
	}
	if st.State != protocol.StateSucceeded {
		return &jobFailed{st}
	}
	if output == "-" {
		w := bufio.NewWriterSize(e.stdout, 256<<10)
		err = cl.WriteResult(ctx, st, w)
		if err == nil {
			err = w.Flush()
		}
	} else {
		err = cl.WriteResultDir(ctx, st, output)
	}
	if err != nil && ctx.Err() != nil {
		return &interruptedError{id: id, succeeded: true}
	}
	return err
}

func (e env) oneJob(name string, args []string, extra func(fs *flag.FlagSet, c *common)) (string, *common, error) {
	var c common
	fs := e.flags(name, &c)
	if extra != nil {
		extra(fs, &c)
	}
	pos, err := e.parse(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != 1 {
		return "", nil, usagef("want one JOB id, got %d arguments", len(pos))
	}
	return pos[0], &c, nil
}

func (e env) wait(ctx context.Context, args []string) error {
	var output string
	var force, cancelOnInt bool
	id, c, err := e.oneJob("wait", args, func(fs *flag.FlagSet, c *common) {
		c.fetchFlag(fs)
		fs.StringVar(&output, "output", "-", "`DIR` for part-NNNNN files and _SUCCESS, or - for standard output")
		fs.BoolVar(&force, "force", false, "let --output DIR replace a non-empty directory")
		fs.BoolVar(&cancelOnInt, "cancel-on-interrupt", false, "cancel the job on Ctrl-C (by default Ctrl-C leaves it running)")
	})
	if err != nil {
		return err
	}
	if output != "-" {
		if err := client.CheckOutputDir(output, force); err != nil {
			return usagef("%v", err)
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return e.finish(ctx, cl, id, output, c.quiet, cancelOnInt)
}

func (e env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e env) status(ctx context.Context, args []string) error {
	var asJSON bool
	id, c, err := e.oneJob("status", args, func(fs *flag.FlagSet, _ *common) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.Status(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(protocol.ToJSON(st))
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "job\t%s (%s, mode %s)\n", st.ID, jobTitle(st), st.Mode)
	fmt.Fprintf(w, "state\t%s\n", st.State)
	if st.Waiting != "" {
		fmt.Fprintf(w, "waiting\t%s\n", st.Waiting)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error\t%s\n", st.Error)
	}
	fmt.Fprintf(w, "maps\t%d/%d done\n", st.MapsDone, st.MapsTotal)
	fmt.Fprintf(w, "reduces\t%d/%d done\n", st.ReducesDone, st.Partitions)
	for _, p := range st.Reducers {
		fmt.Fprintf(w, "reducer\tpartition %d on %s at %s (%s)\n", p.Partition, p.Node, p.Picked.Format(time.RFC3339Nano), p.Reason)
	}
	fmt.Fprintf(w, "elapsed\t%s\n", elapsed(st).Round(time.Millisecond))
	return w.Flush()
}

func elapsed(st *protocol.JobStatus) time.Duration {
	end := st.Finished
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(st.Submitted)
}

func (e env) noArgs(name string, args []string, asJSON *bool, more ...func(*flag.FlagSet)) (*client.Client, error) {
	var c common
	fs := e.flags(name, &c)
	fs.BoolVar(asJSON, "json", false, "print JSON")
	for _, f := range more {
		f(fs)
	}
	pos, err := e.parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("unexpected argument %q", pos[0])
	}
	return c.client()
}

func (e env) jobs(ctx context.Context, args []string) error {
	var asJSON, list bool
	cl, err := e.noArgs("jobs", args, &asJSON, func(fs *flag.FlagSet) {
		fs.BoolVar(&list, "list", false, "list the built-in jobs, their parameters and an example each, instead of the submitted jobs")
	})
	if err != nil {
		return err
	}
	if list {
		cl.Close()
		e.listJobs()
		return nil
	}
	defer cl.Close()
	jobs, err := cl.Jobs(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]protocol.StatusJSON, len(jobs))
		for i := range jobs {
			out[i] = protocol.ToJSON(&jobs[i])
		}
		return e.printJSON(out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tJOB\tSTATE\tMAPS\tREDUCES\tSUBMITTED\tELAPSED")
	for i := range jobs {
		st := &jobs[i]
		fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", st.ID, st.Job, st.State, st.MapsDone, st.MapsTotal, st.ReducesDone, st.Partitions,
			st.Submitted.Local().Format(time.DateTime), elapsed(st).Round(time.Millisecond))
	}
	return w.Flush()
}

func (e env) nodes(ctx context.Context, args []string) error {
	var asJSON bool
	cl, err := e.noArgs("nodes", args, &asJSON)
	if err != nil {
		return err
	}
	defer cl.Close()
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return err
	}
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Name < nodes[b].Name })
	if asJSON {
		return e.printJSON(nodes) // the fields of DESIGN.md: name, role, rpc, state, running, slots
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tRPC\tSTATE\tRUNNING\tSLOTS")
	for _, n := range nodes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\n", n.Name, n.Role, n.RPC, n.State, n.Running, n.Slots)
	}
	return w.Flush()
}

func (e env) cancel(ctx context.Context, args []string) error {
	id, c, err := e.oneJob("cancel", args, nil)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.Cancel(ctx, id)
	if err != nil {
		return err
	}
	if st.State != protocol.StateCancelled {
		return alreadyEnded{st}
	}
	fmt.Fprintf(e.stdout, "job %s cancelled\n", st.ID)
	return nil
}

// alreadyEnded is a cancel of a job that had ended: nothing was cancelled (exit status 1).
type alreadyEnded struct{ st *protocol.JobStatus }

func (a alreadyEnded) Error() string {
	return fmt.Sprintf("job %s had already %s: nothing to cancel", a.st.ID, a.st.State)
}
