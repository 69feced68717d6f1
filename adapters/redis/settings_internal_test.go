package redis

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// settingsAnswers is an infoer answering INFO server, INFO memory and
// CONFIG GET as told: the answer or the error of each.
type settingsAnswers struct {
	memory     string
	memoryErr  error
	configErr  error
	runID      string
	infoServer error
}

func (a settingsAnswers) Info(_ context.Context, section ...string) *goredis.StringCmd {
	if len(section) == 1 && section[0] == "server" {
		return goredis.NewStringResult("# Server\r\nrun_id:"+a.runID+"\r\nuptime_in_seconds:3600\r\n", a.infoServer)
	}
	return goredis.NewStringResult(a.memory, a.memoryErr)
}

func (a settingsAnswers) ConfigGet(context.Context, string) *goredis.MapStringStringCmd {
	return goredis.NewMapStringStringResult(nil, a.configErr)
}

// refusal is an error reply from Redis (as go-redis's own are).
type refusal string

func (r refusal) Error() string { return string(r) }
func (refusal) RedisError()     {}

// A settings read that gets no answer for the policy (a Redis, or an
// API, too slow to answer within the timeout) makes that check
// unavailable and leaves the policy read before in place: it must not
// refuse every proof until the next read, as a policy Redis refuses to
// tell does.
func TestSettingsReadWithoutAnAnswerChangesNothing(t *testing.T) {
	c, stop, err := New(Config{URL: "redis://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	k := ports.ReplayKey{JKT: "jkt", Token: "token", JTI: "jti", ValidFrom: time.Now()}
	good := settingsAnswers{runID: "run-1", memory: "# Memory\r\nmaxmemory_policy:noeviction\r\n"}
	if err := c.readSettings(ctx, good); err != nil {
		t.Fatalf("readSettings under noeviction: %v", err)
	}

	timeout := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}
	for _, tc := range []struct {
		name              string
		memoryErr, config error
	}{
		{"both time out", context.DeadlineExceeded, context.DeadlineExceeded},
		{"both lose the connection", timeout, timeout},
		{"INFO refused, CONFIG times out", refusal("NOPERM this user has no permissions to run the 'info' command"), timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slow := settingsAnswers{runID: "run-1", memoryErr: tc.memoryErr, configErr: tc.config}
			err := c.readSettings(ctx, slow)
			var pe *PolicyError
			if !errors.Is(err, domain.ErrUnavailable) || errors.As(err, &pe) {
				t.Fatalf("readSettings without an answer for the policy: got %v, want ErrUnavailable and no PolicyError", err)
			}
			if err := c.vouch(k); err != nil {
				t.Fatalf("vouch after it: got %v, want nil (noeviction, read before, stands)", err)
			}
		})
	}

	// Refused twice, by Redis itself: a setting to fix, kept until a read
	// says otherwise.
	refused := settingsAnswers{runID: "run-1", memoryErr: refusal("NOPERM info"), configErr: refusal("NOPERM config")}
	var pe *PolicyError
	if err := c.readSettings(ctx, refused); !errors.As(err, &pe) || pe.Policy != "" {
		t.Fatalf("readSettings with INFO memory and CONFIG GET refused: got %v, want a PolicyError without a policy", err)
	}
	if err := c.vouch(k); !errors.As(err, &pe) {
		t.Fatalf("vouch after it: got %v, want the PolicyError", err)
	}
	if err := c.readSettings(ctx, good); err != nil {
		t.Fatalf("readSettings under noeviction again: %v", err)
	}
	if err := c.vouch(k); err != nil {
		t.Fatalf("vouch after a good read: got %v, want nil", err)
	}
}
