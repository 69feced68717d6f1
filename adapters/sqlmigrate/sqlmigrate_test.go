package sqlmigrate_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/spaapi/adapters/sqlmigrate"
)

func TestLoad(t *testing.T) {
	good := fstest.MapFS{
		"migrations/0002_index.sql":    {Data: []byte("CREATE INDEX i ON t (a);")},
		"migrations/0001_messages.sql": {Data: []byte("CREATE TABLE t (a int);")},
		"migrations/README":            {Data: []byte("not a migration")},
	}
	got, err := sqlmigrate.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlmigrate.Migration{{1, "0001_messages.sql", "CREATE TABLE t (a int);"}, {2, "0002_index.sql", "CREATE INDEX i ON t (a);"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	for name, files := range map[string][]string{
		"a gap":             {"0001_a.sql", "0003_c.sql"},
		"not from 0001":     {"0002_b.sql"},
		"no underscore":     {"0001.sql"},
		"not a number":      {"000x_a.sql"},
		"a number twice":    {"0001_a.sql", "0001_b.sql"},
		"a negative number": {"-001_a.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if got, err := sqlmigrate.Load(fsys); err == nil || !strings.Contains(err.Error(), "want a name like") {
			t.Errorf("%s: got %+v, %v; want an error naming the file", name, got, err)
		}
	}
}

func TestSchemaError(t *testing.T) {
	var err error = &sqlmigrate.SchemaError{Database: 7, Known: 3}
	var se *sqlmigrate.SchemaError
	if !errors.As(err, &se) || se.Database != 7 || !strings.Contains(err.Error(), "version 7, newer than this program knows (3)") {
		t.Errorf("got %v", err)
	}
}
