package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/version"
)

// cmdHelp is what `dlbp help CMD` and `dlbp CMD --help` print above the command's flags.
type cmdHelp struct {
	synopsis, about, examples string
}

var helps = map[string]cmdHelp{
	"submit": {
		synopsis: "dlbp submit --job NAME [--param KEY=VALUE]... [--reducers R] [flags] [INPUT...]\n" +
			"dlbp submit --mapper CMD --reducer CMD [--combiner CMD] [--file F]... [flags] INPUT...",
		about: "Uploads the INPUT files (or - for standard input) to maplb, runs the job and prints its\n" +
			"result on standard output, or writes part-NNNNN files and _SUCCESS into --output DIR.\n" +
			"Progress goes to standard error, with the reason when the job waits for something.\n" +
			"Ctrl-C leaves the job running and prints how to follow (dlbp wait) or stop (dlbp cancel)\n" +
			"it; --cancel-on-interrupt cancels it instead. `dlbp jobs --list` lists the built-in jobs.",
		examples: "dlbp submit --job wordcount --reducers 2 book.txt > counts.txt\n" +
			"dlbp submit --job grep --param pattern='^The' a.txt b.txt\n" +
			"dlbp submit --job sum --param range=1..1000000\n" +
			"dlbp submit --job sort --detach big.txt          # prints the job id, returns at once\n" +
			"dlbp submit --mapper 'wc.wasm map' --reducer 'wc.wasm reduce' --reducers 2 book.txt",
	},
	"wait": {
		synopsis: "dlbp wait JOB [--output DIR|-] [flags]",
		about:    "Waits for a job (one submitted with --detach, or left by Ctrl-C) and prints its result.",
		examples: "dlbp wait jmx9dkhlt958535 > counts.txt\ndlbp wait jmx9dkhlt958535 --output counts/",
	},
	"status": {
		synopsis: "dlbp status JOB [--json]",
		about: "Shows a job's state, why it waits (if it does), its progress and its reducers; --json adds\n" +
			"every task attempt with its node, times and why it ended.",
		examples: "dlbp status jmx9dkhlt958535\ndlbp status jmx9dkhlt958535 --json | jq '.maps[0]'",
	},
	"jobs": {
		synopsis: "dlbp jobs [--json]\ndlbp jobs --list",
		about:    "Lists the jobs maplb keeps (until their results expire), newest last; --list lists the\nbuilt-in jobs instead, with their parameters and an example each.",
		examples: "dlbp jobs\ndlbp jobs --list",
	},
	"nodes": {
		synopsis: "dlbp nodes [--json]",
		about:    "Lists the cluster's members as maplb sees them: role, RPC address, state, tasks running, slots.",
		examples: "dlbp nodes",
	},
	"cancel": {
		synopsis: "dlbp cancel JOB",
		about:    "Cancels a job: its tasks stop and what it stored is removed. A job that already ended\nstays as it was; that is said, with exit status 1.",
		examples: "dlbp cancel jmx9dkhlt958535",
	},
	"version": {
		synopsis: "dlbp version",
		about:    "Prints the version, commit and Go version of this build (the daemons take --version).",
		examples: "dlbp version",
	},
}

// printHelp writes the help of the command fs belongs to, and its flags, on w.
func printHelp(w io.Writer, name string, fs *flag.FlagSet) {
	h := helps[name]
	fmt.Fprintf(w, "usage:\n%s\n\n%s\n\nexamples:\n%s\n\nflags:\n", indent(h.synopsis), h.about, indent(h.examples))
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%s%s\n      %s%s\n", f.Name, arg, usage, def)
	})
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// help is `dlbp help [COMMAND]`.
func (e env) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(e.stdout, usage, strings.Join(job.Names(), ", "))
		return exitOK
	}
	if _, ok := helps[args[0]]; !ok || args[0] == "help" {
		fmt.Fprintf(e.stderr, "dlbp help: no command %q (commands: %s)\n", args[0], strings.Join(commandNames(), ", "))
		return exitUsage
	}
	return run(append([]string{args[0], "--help"}, args[1:]...), e.stdin, e.stdout, e.stderr)
}

func commandNames() []string {
	return []string{"submit", "wait", "status", "jobs", "nodes", "cancel", "version"}
}

// listJobs prints every built-in job with its parameters and an example.
func (e env) listJobs() {
	for i, d := range job.Docs() {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "%s\n  %s\n", d.Name, d.Summary)
		for _, p := range d.Params {
			req := ""
			if p.Required {
				req = " (required)"
			}
			fmt.Fprintf(e.stdout, "  --param %s=%s%s: %s\n", p.Key, p.Value, req, p.Doc)
		}
		fmt.Fprintf(e.stdout, "  example: %s\n", d.Example)
	}
	fmt.Fprintln(e.stdout, "\nyour own programs\n  --mapper CMD --reducer CMD [--combiner CMD]: Hadoop Streaming's contract; see dlbp help submit")
}

// version is `dlbp version`.
func (e env) version(_ context.Context, args []string) error {
	var c common
	fs := e.flags("version", &c)
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, version.Get().String("dlbp"))
	return nil
}
