package store

import (
	"errors"
	"path/filepath"
	"testing"
)

type rec struct {
	Name string
	N    int
}

func TestPutGetEachDeleteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"b", "a", "c"} {
		if err := d.Put("jobs", k, rec{Name: k, N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete("jobs", "c"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete("nothing", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	d.Close()
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var keys []string
	err = d.Each("jobs", func(k string, decode func(any) error) error {
		var r rec
		if err := decode(&r); err != nil {
			return err
		}
		if r.Name != k {
			t.Errorf("record %q under key %q", r.Name, k)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil || len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	var r rec
	if found, err := d.Get("jobs", "b", &r); !found || err != nil || r.N != 0 {
		t.Fatalf("get b: %v %v %+v", found, err, r)
	}
	if found, _ := d.Get("jobs", "c", &r); found {
		t.Fatal("deleted record found")
	}
}
