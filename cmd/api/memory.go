package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/postgres"
)

// The memory plan: MEMORY_LIMIT is the most resident memory (RSS) the
// process may take, whatever its clients do, and every bound that holds
// memory is sized from it here, in one place. What is bounded per item is
// counted at its worst:
//
//	MEMORY_LIMIT
//	 - outside the Go heap: the binary (outsideGo), SQLite's page caches
//	 - a thirty-second, for the runtime's overshoot: its limit is soft
//	 = the Go memory limit (debug.SetMemoryLimit): the collector works
//	   harder as the heap nears it
//	 - a quarter of it left for garbage between collections (headroom)
//	 = what may be live at once:
//	     the idle process (baseGo), the development issuer (-dev),
//	     the verified-token cache (TOKEN_CACHE_SIZE × tokenEntryBytes),
//	     the in-memory DPoP replay cache (its bound × replayEntryBytes),
//	     the log buffer, the in-memory message store, PostgreSQL's pool
//	     (DATABASE_MAX_CONNS × postgres.ConnBytes),
//	   and what is left (rest), shared:
//	     a quarter to the answer budget (list answers being written),
//	     the rest to connections, each at its worst (connBytes; with TLS,
//	     tlsConnBytes, an HTTP/2 connection and its streams): MAX_CONNS.
//
// The figures are measured with .ci/boundedmemory (connections, answers)
// and the adapters' benchmarks (caches); docs/operations.md has them.
const (
	// DefaultMemoryLimit applies when neither MEMORY_LIMIT, GOMEMLIMIT nor
	// a cgroup (container) limit says otherwise, and the machine has at
	// least twice as much (else half of it): enough for about 7,000
	// connections at their worst with the default caches, and small next
	// to any machine that runs services without a container limit.
	DefaultMemoryLimit = 1 << 30

	// outsideGo is what the process holds outside the Go heap: its code
	// and data, 30 MB, all of which may become resident (19 MB is at
	// idle: RssFile in /proc/PID/status).
	outsideGo = 32 << 20
	// sqliteConnCache is SQLite's page cache per connection (its default
	// cache_size, 2,000 KiB), outside the Go heap; adapters/sqlite opens
	// one writer and 2 × GOMAXPROCS readers.
	sqliteConnCache = 2000 << 10
	// baseGo is the idle process's Go memory: runtime, router, metrics
	// registry, the metrics server, the JWKS or introspection caches, the
	// failure limit's table (1.1 MB, allocated at start) (idle RSS with
	// -dev and SQLite on 2 cores: 22 MB, of which 10 MB in the Go heap
	// and stacks; 24 MB with the table).
	baseGo = 24 << 20
	// devIssuerBytes is the development issuer's (-dev) own state at its
	// bounds: pending logins, codes, its replay cache, its 64 connections.
	devIssuerBytes = 8 << 20
	// tokenEntryBytes is a verified-token cache entry: 1.25 KB measured
	// for Auth0-shaped tokens (BenchmarkCacheEntryBytes), counted at
	// 4 KiB so that larger tokens (many roles or permissions) still fit.
	// Tokens carrying hundreds of groups cost more: lower
	// TOKEN_CACHE_SIZE or raise MEMORY_LIMIT for those.
	tokenEntryBytes = 4 << 10
	// replayEntryBytes is a used DPoP proof in the in-memory replay cache,
	// with its share of the per-key and per-token counts: 56.7 MB for
	// 1,048,576 (BenchmarkReplayCacheFull, adapters/memory).
	replayEntryBytes = 56
	// memoryStoreBytes is the in-memory message store full: its
	// MaxMessages messages of up to 500 characters (2,000 bytes) each,
	// with their IDs, authors and the store's indexes.
	memoryStoreBytes = memory.MaxMessages * 2560
	// connBytes is one connection at its worst: a request head of
	// httpapi.MaxHeaderBytes plus net/http's 4 KiB of slack, and 20 KiB
	// for the rest (goroutine stack, 4 KiB read and write buffers, the
	// header map of up to 100 fields). Measured with 3,000 connections
	// holding unfinished heads: 38.6 KiB each for one long field, 49.5
	// KiB for 100 fields, 7.3 KiB for an idle connection.
	connBytes = httpapi.MaxHeaderBytes + 4<<10 + 20<<10
	// tlsConnBytes is one connection at its worst when the API serves TLS
	// (TLS_CERT_FILE): an HTTP/2 connection, which holds, besides what
	// any connection holds (tlsConnWorst: a 16 KiB frame being read, the
	// 64 KiB of request body a client may send ahead of its handlers, a
	// header block of up to 40 KiB being decoded, two 4 KiB HPACK tables,
	// its goroutines, TLS's record buffers), one request per stream
	// (httpapi.MaxConcurrentStreams), each of which a client can keep,
	// its header block of up to 40 KiB in up to 1,250 tiny fields and
	// all, until the write timeout, by taking no answer (h2StreamWorst).
	// An HTTP/1.1 connection over TLS holds less. Measured with
	// .ci/boundedmemory -tls (a connection's part) and with 1,000 streams
	// held so (130 KB each).
	tlsConnBytes  = tlsConnWorst + httpapi.MaxConcurrentStreams*h2StreamWorst
	tlsConnWorst  = 224 << 10
	h2StreamWorst = 136 << 10
	// minConns is the fewest connections a plan may leave room for.
	minConns = 64
)

// logBufferBytes is the log buffer at its bound: the lines waiting and the
// batch being written, each up to logBufferMax (and append's slack).
func logBufferBytes() int64 { return int64(logBufferMax) * 5 / 2 }

// memoryInputs are the settings that take memory, for planMemory.
type memoryInputs struct {
	limit       int64  // the ceiling
	limitSource string // where it comes from, for messages: "MEMORY_LIMIT", "GOMEMLIMIT", ...
	tokenCache  int    // TOKEN_CACHE_SIZE
	replay      int    // entries of the in-memory DPoP replay cache (0: Redis, or DPoP off)
	store       string // storage engine: sqlite, postgres, memory
	storeConns  int    // PostgreSQL's pool size (0 for the others)
	procs       int    // GOMAXPROCS
	dev         bool   // -dev: the development issuer runs too
	nofile      uint64 // the open-file limit (0: unknown)
	maxConns    int    // MAX_CONNS if set, else 0
	maxConnsVar string // its name, for messages
	tls         bool   // the API serves TLS (and HTTP/2)
}

// memoryPlan is how the limit is shared. All sizes are bytes.
type memoryPlan struct {
	limit       int64
	limitSource string
	outside     int64 // outside the Go heap
	goLimit     int64 // for debug.SetMemoryLimit: limit - outside - limit/32
	headroom    int64 // garbage between collections
	base        int64 // the idle process, and the development issuer
	tokenCache  int64
	replay      int64
	logs        int64
	store       int64 // the in-memory message store
	pool        int64 // PostgreSQL's connections
	rest        int64 // for answers and connections
	answers     int64 // the answer budget
	conns       int64 // for connections: maxConns × connBytes at most
	connBytes   int64 // one connection at its worst: connBytes, or tlsConnBytes with TLS
	maxConns    int   // MAX_CONNS, given or derived
}

// planMemory shares in.limit. Errors name the setting to change.
func planMemory(in memoryInputs) (memoryPlan, error) {
	p := memoryPlan{limit: in.limit, limitSource: in.limitSource, connBytes: connBytes}
	if in.tls {
		p.connBytes = tlsConnBytes
	}
	p.outside = outsideGo
	if in.store == "sqlite" {
		p.outside += int64(1+2*in.procs) * sqliteConnCache
	}
	p.goLimit = p.limit - p.outside - p.limit/32
	p.headroom = p.goLimit / 4
	p.base = baseGo
	if in.dev {
		p.base += devIssuerBytes
	}
	p.tokenCache = int64(in.tokenCache) * tokenEntryBytes
	p.replay = int64(in.replay) * replayEntryBytes
	p.logs = logBufferBytes()
	if in.store == "memory" {
		p.store = memoryStoreBytes
	}
	if in.store == "postgres" {
		p.pool = int64(in.storeConns) * postgres.ConnBytes
	}
	fixed := p.base + p.tokenCache + p.replay + p.logs + p.store + p.pool
	p.rest = p.goLimit - p.headroom - fixed
	least := 2*httpapi.MaxListAnswer + minConns*p.connBytes // the smallest rest that serves
	if p.rest < least {
		// The limit at which rest would be least:
		// rest = (limit × 31/32 - outside) × 3/4 - fixed.
		need := (p.outside + (fixed+least)*4/3 + 1) * 32 / 31
		var parts []string
		for _, c := range []struct {
			name string
			n    int64
		}{{"the idle process", p.base}, {"the token cache", p.tokenCache}, {"the DPoP replay cache", p.replay}, {"the log buffer", p.logs}, {"the message store", p.store}, {"the database pool", p.pool}} {
			if c.n > 0 {
				parts = append(parts, c.name+" "+formatBytes(c.n))
			}
		}
		return p, fmt.Errorf("%s: %s is too small for these settings: %s (%s) besides %s outside the Go heap, "+
			"and a quarter of the heap for garbage, leave too little for connections and list answers; "+
			"it needs at least %s (or lower TOKEN_CACHE_SIZE, or keep DPoP proofs in Redis)",
			in.limitSource, formatBytes(p.limit), formatBytes(fixed), strings.Join(parts, ", "), formatBytes(p.outside),
			formatBytes(roundUpMiB(need)))
	}
	p.answers = max(p.rest/4, 2*httpapi.MaxListAnswer)
	p.conns = p.rest - p.answers
	fits := int(p.conns / p.connBytes)
	if in.maxConns > 0 {
		if in.maxConns > fits {
			return p, fmt.Errorf("%s: %d connections may hold up to %s (%s each at their worst), more than the %s that %s %s leaves them; "+
				"lower it to %d or raise MEMORY_LIMIT", in.maxConnsVar, in.maxConns, formatBytes(int64(in.maxConns)*p.connBytes),
				formatBytes(p.connBytes), formatBytes(p.conns), in.limitSource, formatBytes(p.limit), fits)
		}
		p.maxConns = in.maxConns
		return p, nil
	}
	p.maxConns = min(defaultMaxConns(in.nofile), fits)
	return p, nil
}

// roundUpMiB rounds n up to whole MiB, for messages.
func roundUpMiB(n int64) int64 { return (n + 1<<20 - 1) &^ (1<<20 - 1) }

// byteUnits are the units of sizes, as GOMEMLIMIT takes them.
var byteUnits = []struct {
	name string
	size int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseBytes reads a size as GOMEMLIMIT writes one: a whole number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB (512MiB, 2GiB).
func parseBytes(s string) (int64, error) {
	num, unit := s, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.name) {
			num, unit = strings.TrimSuffix(s, u.name), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || num[0] == '+' || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is not a size like 512MiB or 2GiB (a whole number with B, KiB, MiB, GiB or TiB)", s)
	}
	return n * unit, nil
}

// formatBytes writes n in the largest unit it reaches, to a tenth (1 GiB,
// 1.5 GiB, 170.7 MiB, 1000 B), for messages.
func formatBytes(n int64) string {
	for _, u := range byteUnits[:len(byteUnits)-1] {
		if n >= u.size {
			s := strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

// memoryLimit resolves the ceiling: MEMORY_LIMIT (or -memory-limit), else
// GOMEMLIMIT, else the cgroup's memory limit, else DefaultMemoryLimit or
// half the machine's memory if that is less. source names where it came
// from, as errors should.
func memoryLimit(get getter, getenv func(string) string, sys fs.FS) (limit int64, source string, err error) {
	v, name, err := get("memory-limit")
	if err != nil {
		return 0, "", err
	}
	if v != "" {
		n, err := parseBytes(v)
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", name, err)
		}
		return n, name, nil
	}
	// GOMEMLIMIT: the runtime has checked it already (it will not start
	// with a bad one); "off" and values it would ignore leave it unset.
	if v := strings.TrimSpace(getenv("GOMEMLIMIT")); v != "" && v != "off" {
		if n, err := parseBytes(v); err == nil && n < math.MaxInt64 {
			return n, "GOMEMLIMIT", nil
		}
	}
	if n, ok := cgroupMemoryLimit(sys); ok {
		return n, "the cgroup memory limit", nil
	}
	limit, source = DefaultMemoryLimit, "the default MEMORY_LIMIT"
	if total, ok := physicalMemory(sys); ok && total/2 < limit {
		limit, source = total/2, "the default MEMORY_LIMIT (half of this machine's memory)"
	}
	return limit, source, nil
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup, the
// lowest set on it or any of its parents (cgroup v2 memory.max, or v1
// memory.limit_in_bytes), read through sys (the root file system).
func cgroupMemoryLimit(sys fs.FS) (int64, bool) {
	cgroups, err1 := fs.ReadFile(sys, "proc/self/cgroup")
	mounts, err2 := fs.ReadFile(sys, "proc/self/mountinfo")
	if err1 != nil || err2 != nil {
		return 0, false
	}
	// Each process cgroup line is hierarchy-ID:controllers:path; v2's is
	// 0::path.
	var v2Path, v1Path string
	for line := range strings.Lines(string(cgroups)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path = parts[2]
			}
		}
	}
	best := int64(math.MaxInt64)
	sc := bufio.NewScanner(bytes.NewReader(mounts))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// mountinfo: ID parent major:minor root mount-point options ... - fstype source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		root, point := f[3], f[4]
		var cgPath, file string
		switch {
		case g[0] == "cgroup2" && v2Path != "":
			cgPath, file = v2Path, "memory.max"
		case g[0] == "cgroup" && v1Path != "" && hasOption(g[2], "memory"):
			cgPath, file = v1Path, "memory.limit_in_bytes"
		default:
			continue
		}
		rel, ok := strings.CutPrefix(cgPath, root)
		if !ok || rel != "" && root != "/" && rel[0] != '/' {
			continue // the process's cgroup is not under this mount
		}
		// The cgroup and its parents up to the mount point.
		for dir := path.Join(point, rel); ; dir = path.Dir(dir) {
			if n, ok := readLimit(sys, path.Join(dir, file)); ok && n < best {
				best = n
			}
			if dir == point || dir == "/" || dir == "." {
				break
			}
		}
	}
	return best, best < math.MaxInt64
}

func hasOption(options, want string) bool {
	for _, o := range strings.Split(options, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: "max" (v2) and v1's
// "unlimited" (a number near 2^63) are no limit.
func readLimit(sys fs.FS, name string) (int64, bool) {
	b, err := fs.ReadFile(sys, strings.TrimPrefix(name, "/"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

// physicalMemory returns MemTotal from /proc/meminfo.
func physicalMemory(sys fs.FS) (int64, bool) {
	b, err := fs.ReadFile(sys, "proc/meminfo")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 {
					return kb << 10, true
				}
			}
		}
	}
	return 0, false
}
