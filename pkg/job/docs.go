package job

// Doc tells a user what a built-in job does, which --param settings it takes and how to run it.
type Doc struct {
	Name    string
	Summary string
	Params  []ParamDoc
	Example string // a whole dlbp command line
}

// ParamDoc is one --param KEY=VALUE a job takes.
type ParamDoc struct {
	Key, Value, Doc string
	Required        bool
}

// docs documents every built-in job; TestDocsCoverJobs keeps it in step with Names and with the
// params each job accepts.
var docs = map[string]Doc{
	"wordcount": {Summary: "counts each word (a run of Unicode letters, case kept): lines WORD COUNT, sorted by word",
		Example: "dlbp submit --job wordcount --reducers 2 book.txt"},
	"indexer": {Summary: "an inverted index: lines WORD N DOC1,DOC2,... naming the N documents that hold each word",
		Example: "dlbp submit --job indexer a.txt b.txt"},
	"grep": {Summary: "the lines that match a Go regexp, as DOC:LINE:TEXT in input order (what grep -Hn prints)",
		Params:  []ParamDoc{{Key: "pattern", Value: "RE", Doc: "the Go regexp (RE2 syntax) a line must match", Required: true}},
		Example: "dlbp submit --job grep --param pattern='^The' book.txt"},
	"sort": {Summary: "sorts the input's lines bytewise (as LC_ALL=C sort), range-partitioned over the reducers",
		Example: "dlbp submit --job sort --reducers 4 --output sorted/ lines.txt"},
	"sum": {Summary: "adds decimal integers of any size: one per input line, or every integer of a range (no input)",
		Params:  []ParamDoc{{Key: "range", Value: "A..B", Doc: "add every integer from A to B instead of reading input"}},
		Example: "dlbp submit --job sum --param range=1..100000000"},
}

// Docs returns the documentation of every built-in job, by name.
func Docs() []Doc {
	var out []Doc
	for _, name := range Names() {
		d := docs[name]
		d.Name = name
		out = append(out, d)
	}
	return out
}
