package job

import (
	"strings"
	"testing"
)

// TestDocsCoverJobs: every built-in job is documented, with exactly the params it accepts.
func TestDocsCoverJobs(t *testing.T) {
	for _, d := range Docs() {
		if d.Summary == "" || !strings.Contains(d.Example, "--job "+d.Name) {
			t.Errorf("%s: summary %q, example %q", d.Name, d.Summary, d.Example)
		}
		j, err := Lookup(d.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Params {
			err := j.Validate(&Spec{Job: d.Name, Reducers: 1, Params: map[string]string{p.Key: "x"}}, true)
			if err != nil && strings.Contains(err.Error(), "unknown param") {
				t.Errorf("%s documents --param %s, which it refuses: %v", d.Name, p.Key, err)
			}
		}
		err = j.Validate(&Spec{Job: d.Name, Reducers: 1, Params: map[string]string{"undocumented": "x"}}, true)
		if err == nil || !strings.Contains(err.Error(), "unknown param") {
			t.Errorf("%s takes an undocumented param: %v", d.Name, err)
		}
	}
	if len(Docs()) != len(Names()) || len(docs) != len(Names()) {
		t.Errorf("%d docs for %d jobs", len(docs), len(Names()))
	}
}
