package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/postgres"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"536870912", 512 << 20},
		{"1024B", 1024},
		{"64KiB", 64 << 10},
		{"512MiB", 512 << 20},
		{"2GiB", 2 << 30},
		{"1TiB", 1 << 40},
	} {
		if got, err := parseBytes(tc.in); err != nil || got != tc.want {
			t.Errorf("parseBytes(%q): got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "-1GiB", "+1GiB", "512m", "512MB", "1.5GiB", "GiB", "512 MiB", "9999999TiB", "lots"} {
		if n, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q): got %d, want an error", bad, n)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		1 << 30: "1 GiB", 3 << 29: "1.5 GiB", 700 << 20: "700 MiB", 64 << 10: "64 KiB", 12345: "12.1 KiB", 1000: "1000 B",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d): got %q, want %q", n, got, want)
		}
	}
}

// defaultInputs are the settings of a server started with -dev and no
// other settings, on 2 cores, with a limit of limit.
func defaultInputs(limit int64) memoryInputs {
	return memoryInputs{limit: limit, limitSource: "MEMORY_LIMIT", tokenCache: 10_000, replay: memory.DefaultReplayCacheSize,
		store: "sqlite", procs: 2, dev: true, nofile: 20_000}
}

// The plan adds up: what is live at its worst, plus the headroom for
// garbage and what lies outside the Go heap, is within the limit.
func TestPlanMemoryAddsUp(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		tls   bool
	}{{256 << 20, false}, {512 << 20, false}, {1 << 30, false}, {4 << 30, false}, {64 << 30, false},
		{512 << 20, true}, {1 << 30, true}, {4 << 30, true}, {64 << 30, true}} {
		limit := tc.limit
		in := defaultInputs(limit)
		in.tls = tc.tls
		p, err := planMemory(in)
		if err != nil {
			t.Fatalf("%s: %v", formatBytes(limit), err)
		}
		if want := map[bool]int64{false: connBytes, true: tlsConnBytes}[tc.tls]; p.connBytes != want {
			t.Errorf("%s, TLS %v: a connection counts %d bytes, want %d", formatBytes(limit), tc.tls, p.connBytes, want)
		}
		live := p.base + p.tokenCache + p.replay + p.logs + p.store + p.pool + p.answers + int64(p.maxConns)*p.connBytes
		if total := p.outside + limit/32 + p.headroom + live; total > limit {
			t.Errorf("%s: the plan's worst case is %s", formatBytes(limit), formatBytes(total))
		}
		if p.goLimit != limit-p.outside-limit/32 || p.goLimit <= 0 {
			t.Errorf("%s: Go limit %d, outside %d", formatBytes(limit), p.goLimit, p.outside)
		}
		if p.answers < 2*httpapi.MaxListAnswer {
			t.Errorf("%s: answer budget %d is less than two of the largest list answers", formatBytes(limit), p.answers)
		}
		t.Logf("%8s, TLS %-5v: MAX_CONNS %5d, answer budget %s, Go limit %s", formatBytes(limit), tc.tls, p.maxConns, formatBytes(p.answers), formatBytes(p.goLimit))
	}
}

// MAX_CONNS's default follows the limit, up to the open-file limit's
// three quarters and 10,000.
func TestPlanMemoryDerivedDefaults(t *testing.T) {
	small, _ := planMemory(defaultInputs(512 << 20))
	large, _ := planMemory(defaultInputs(1 << 30))
	if !(minConns <= small.maxConns && small.maxConns < large.maxConns && large.maxConns < maxConnsDefaultCap) {
		t.Errorf("MAX_CONNS: %d at 512 MiB, %d at 1 GiB: want them growing with the limit, under %d", small.maxConns, large.maxConns, maxConnsDefaultCap)
	}
	if huge, _ := planMemory(defaultInputs(64 << 30)); huge.maxConns != maxConnsDefaultCap {
		t.Errorf("MAX_CONNS at 64 GiB: got %d, want the cap %d", huge.maxConns, maxConnsDefaultCap)
	}
	in := defaultInputs(64 << 30)
	in.nofile = 1024
	if p, _ := planMemory(in); p.maxConns != 768 {
		t.Errorf("MAX_CONNS with 1,024 files: got %d, want 768", p.maxConns)
	}
	// Keeping proofs in Redis, or no token cache, leaves more for
	// connections.
	in = defaultInputs(512 << 20)
	in.replay, in.tokenCache = 0, 0
	if p, _ := planMemory(in); p.maxConns <= small.maxConns {
		t.Errorf("MAX_CONNS without the caches: got %d, want more than %d", p.maxConns, small.maxConns)
	}
	// SQLite's page caches, outside the Go heap, lower the Go limit.
	in = defaultInputs(1 << 30)
	in.store = "postgres"
	if p, _ := planMemory(in); p.goLimit-large.goLimit != 5*sqliteConnCache {
		t.Errorf("Go limit with PostgreSQL: %d more than with SQLite, want %d", p.goLimit-large.goLimit, 5*sqliteConnCache)
	}
	// PostgreSQL's pool is in the Go heap: a larger one leaves less for
	// connections, and one the limit cannot hold is refused by name.
	in.storeConns = 16
	pg16, err := planMemory(in)
	in.storeConns = 1000
	pg1000, err2 := planMemory(in)
	if err != nil || err2 != nil || pg16.pool != 16*postgres.ConnBytes || pg1000.pool != 1000*postgres.ConnBytes || pg1000.maxConns >= pg16.maxConns {
		t.Errorf("pools of 16 and 1000: %s and %s, MAX_CONNS %d and %d (%v, %v): want the pool counted and fewer connections beside the larger",
			formatBytes(pg16.pool), formatBytes(pg1000.pool), pg16.maxConns, pg1000.maxConns, err, err2)
	}
	in.limit = 256 << 20
	if _, err := planMemory(in); err == nil || !strings.Contains(err.Error(), "the database pool 93.8 MiB") {
		t.Errorf("a pool of 1000 in 256 MiB: got %v, want a refusal naming the database pool", err)
	}
}

func TestPlanMemoryRefusals(t *testing.T) {
	_, err := planMemory(defaultInputs(128 << 20))
	if err == nil || !strings.HasPrefix(err.Error(), "MEMORY_LIMIT: 128 MiB is too small for these settings") ||
		!strings.Contains(err.Error(), "it needs at least") {
		t.Errorf("128 MiB: got %v", err)
	}
	// The least the message names is enough.
	var need int64
	if _, err := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "at least ")+len("at least "):], "%d MiB", &need); err != nil {
		t.Fatal(err)
	}
	if _, err := planMemory(defaultInputs(need << 20)); err != nil {
		t.Errorf("at the %d MiB the refusal asked for: %v", need, err)
	}
	if _, err := planMemory(defaultInputs((need - 1) << 20)); err == nil {
		t.Errorf("at %d MiB, below what the refusal asked for: no refusal", need-1)
	}

	in := defaultInputs(512 << 20)
	in.maxConns, in.maxConnsVar = 10_000, "MAX_CONNS"
	_, err = planMemory(in)
	fits, _ := planMemory(defaultInputs(512 << 20))
	if err == nil || !strings.HasPrefix(err.Error(), "MAX_CONNS: 10000 connections may hold up to 625 MiB (64 KiB each at their worst), more than the ") ||
		!strings.Contains(err.Error(), fmt.Sprintf("that MEMORY_LIMIT 512 MiB leaves them; lower it to %d or raise MEMORY_LIMIT", fits.maxConns)) {
		t.Errorf("MAX_CONNS 10000 in 512 MiB: got %v", err)
	}
	in.maxConns = 1000
	if p, err := planMemory(in); err != nil || p.maxConns != 1000 {
		t.Errorf("MAX_CONNS 1000 in 512 MiB: got %d, %v", p.maxConns, err)
	}
}

// fakeRoot is a root file system with the process's cgroup files.
func fakeRoot(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestCgroupMemoryLimit(t *testing.T) {
	const v2Mount = "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
	const v1Mount = "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64 // 0: none
	}{
		{"v2, in a container (cgroup namespace)", map[string]string{
			"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": v2Mount,
			"sys/fs/cgroup/memory.max": "536870912\n",
		}, 512 << 20},
		{"v2, a systemd service with MemoryMax on its slice", map[string]string{
			"proc/self/cgroup": "0::/app.slice/api.service\n", "proc/self/mountinfo": v2Mount,
			"sys/fs/cgroup/app.slice/api.service/memory.max": "max\n",
			"sys/fs/cgroup/app.slice/memory.max":             "1073741824\n",
		}, 1 << 30},
		{"v2, the lowest of the cgroup and its parents", map[string]string{
			"proc/self/cgroup": "0::/a/b\n", "proc/self/mountinfo": v2Mount,
			"sys/fs/cgroup/a/b/memory.max": "268435456\n", "sys/fs/cgroup/a/memory.max": "1073741824\n",
		}, 256 << 20},
		{"v2, no limit", map[string]string{
			"proc/self/cgroup": "0::/user.slice\n", "proc/self/mountinfo": v2Mount,
			"sys/fs/cgroup/user.slice/memory.max": "max\n",
		}, 0},
		{"v1", map[string]string{
			"proc/self/cgroup":    "9:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
			"proc/self/mountinfo": v1Mount + "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "2147483648\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
		}, 2 << 30},
		{"v1, unlimited (this machine's kind)", map[string]string{
			"proc/self/cgroup":    "4:memory:/process_api/f9c7\n0::/\n",
			"proc/self/mountinfo": v1Mount,
			"sys/fs/cgroup/memory/process_api/f9c7/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"v1, the cgroup is the mount's root", map[string]string{
			"proc/self/cgroup":                           "4:memory:/docker/abc\n",
			"proc/self/mountinfo":                        "34 30 0:31 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "104857600\n",
		}, 100 << 20},
		{"no cgroup files", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(fakeRoot(tc.files))
			if ok != (tc.want != 0) || got != tc.want && ok {
				t.Errorf("got %d (%v), want %d", got, ok, tc.want)
			}
		})
	}
}

// Where the limit comes from: MEMORY_LIMIT (or the flag), GOMEMLIMIT, the
// cgroup, the default, half of a small machine's memory.
func TestMemoryLimitSources(t *testing.T) {
	cgroup := map[string]string{
		"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		"sys/fs/cgroup/memory.max": "805306368\n",
	}
	small := map[string]string{"proc/meminfo": "MemTotal:        1015808 kB\nMemFree:          200000 kB\n"}
	big := map[string]string{"proc/meminfo": "MemTotal:       24683520 kB\n"}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		sys        map[string]string
		want       int64
		wantSource string
	}{
		{"MEMORY_LIMIT", map[string]string{"MEMORY_LIMIT": "2GiB", "GOMEMLIMIT": "1GiB"}, nil, cgroup, 2 << 30, "MEMORY_LIMIT"},
		{"the flag", map[string]string{"MEMORY_LIMIT": "2GiB"}, []string{"-memory-limit", "3GiB"}, nil, 3 << 30, "-memory-limit"},
		{"GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "768MiB"}, nil, cgroup, 768 << 20, "GOMEMLIMIT"},
		{"GOMEMLIMIT off", map[string]string{"GOMEMLIMIT": "off"}, nil, cgroup, 768 << 20, "the cgroup memory limit"},
		{"the cgroup", nil, nil, cgroup, 768 << 20, "the cgroup memory limit"},
		{"the default", nil, nil, big, DefaultMemoryLimit, "the default MEMORY_LIMIT"},
		{"half of a small machine", nil, nil, small, 1015808 << 10 / 2, "the default MEMORY_LIMIT (half of this machine's memory)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := systemRoot
			systemRoot = fakeRoot(tc.sys)
			t.Cleanup(func() { systemRoot = old })
			e := map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "HOME": t.TempDir()}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := loadConfig(tc.args, env(e), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.memory.limit != tc.want || c.memory.limitSource != tc.wantSource {
				t.Errorf("got %d from %q, want %d from %q", c.memory.limit, c.memory.limitSource, tc.want, tc.wantSource)
			}
		})
	}
}

// Bad values stop start-up, naming the variable.
func TestMemorySettingsRefused(t *testing.T) {
	old := systemRoot
	systemRoot = fakeRoot(nil)
	t.Cleanup(func() { systemRoot = old })
	for _, tc := range []struct {
		env map[string]string
		err string
	}{
		{map[string]string{"MEMORY_LIMIT": "512m"}, `MEMORY_LIMIT: "512m" is not a size like 512MiB or 2GiB`},
		{map[string]string{"MEMORY_LIMIT": "0"}, `MEMORY_LIMIT: "0" is not a size`},
		{map[string]string{"MEMORY_LIMIT": "64MiB"}, `MEMORY_LIMIT: 64 MiB is too small for these settings`},
		{map[string]string{"GOMEMLIMIT": "100MiB"}, `GOMEMLIMIT: 100 MiB is too small for these settings`},
		{map[string]string{"MEMORY_LIMIT": "512MiB", "TOKEN_CACHE_SIZE": "1000000"}, `MEMORY_LIMIT: 512 MiB is too small for these settings`},
		{map[string]string{"MEMORY_LIMIT": "512MiB", "MAX_CONNS": "9000"}, `MAX_CONNS: 9000 connections may hold up to`},
	} {
		e := map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "HOME": t.TempDir()}
		for k, v := range tc.env {
			e[k] = v
		}
		_, err := loadConfig(nil, env(e), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%v: got %v, want an error starting %q", tc.env, err, tc.err)
		}
	}
}
