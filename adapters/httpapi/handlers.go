package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gorilla/mux"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

func handlePublic(m *app.Messages) http.Handler {
	var answer messageAnswer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer.write(w, m.Public(r.Context()))
	})
}

func handlePrivate(m *app.Messages) http.Handler {
	var answer messageAnswer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer.write(w, m.Private(r.Context(), principalFrom(w)))
	})
}

func handlePrivateScoped(m *app.Messages) http.Handler {
	var answer messageAnswer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer.write(w, m.PrivateScoped(r.Context(), principalFrom(w)))
	})
}

// messageAnswer writes the quickstart endpoints' answers, which are the
// same for every request: the JSON is encoded on first use and kept, and
// encoded again only if the message ever differs from the one kept.
type messageAnswer struct {
	last atomic.Pointer[encodedMessage]
}

type encodedMessage struct {
	msg  app.Message
	body []byte
}

func (a *messageAnswer) write(w http.ResponseWriter, msg app.Message) {
	e := a.last.Load()
	if e == nil || e.msg != msg {
		e = &encodedMessage{msg: msg, body: mustJSON(msg)}
		a.last.Store(e)
	}
	writeJSON(w, http.StatusOK, e.body)
}

func handleMe(m *app.Messages) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, m.Me(r.Context(), principalFrom(w)))
	})
}

// handleListMessages answers a page of messages, holding the page's
// bytes from budget from before it is read until it is written.
func handleListMessages(m *app.Messages, budget *AnswerBudget) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, limit, err := pageParams(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		p := principalFrom(w)
		held, err := budget.acquire(r.Context(), caller{p.Issuer, p.Subject}, listEstimate(limit))
		if err != nil {
			writeError(w, r, err)
			return
		}
		// Deferred, so that a failed write, a timeout or a panic gives the
		// bytes back too.
		defer held.release()
		page, err := m.List(r.Context(), p, after, limit)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeMessageList(w, r, held, page.Messages, encodeCursor(page.Next))
	})
}

// newMessage is the body of POST /api/messages.
type newMessage struct {
	Text *string `json:"text"`
}

func handlePostMessage(m *app.Messages) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body newMessage
		if err := decode(w, r, &body); err != nil {
			writeError(w, r, err)
			return
		}
		if body.Text == nil { // absent, or null
			writeError(w, r, &domain.InputError{Field: "text", Problem: "is required"})
			return
		}
		msg, err := m.Post(r.Context(), principalFrom(w), *body.Text)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/api/messages/"+msg.ID)
		encode(w, http.StatusCreated, msg)
	})
}

func handleDeleteMessage(m *app.Messages) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.Delete(r.Context(), principalFrom(w), mux.Vars(r)["id"]); err != nil {
			writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type status struct {
	Status string `json:"status"`
}

// The health checks' answers, encoded once.
var (
	statusOK    = mustJSON(status{"ok"})
	statusReady = mustJSON(status{"ready"})
)

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = noStore
		writeJSON(w, http.StatusOK, statusOK)
	})
}

func handleReadyz(h *app.Health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = noStore
		if err := h.Ready(r.Context()); err != nil {
			writeError(w, r, fmt.Errorf("%w: %w", domain.ErrUnavailable, err))
			return
		}
		writeJSON(w, http.StatusOK, statusReady)
	})
}

func handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, domain.ErrNotFound)
	})
}

// handleMethodNotAllowed answers 405 with the Allow header RFC 9110 asks
// for: those of methods (every method the router serves) the path takes.
func handleMethodNotAllowed(router *mux.Router, methods []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			var match mux.RouteMatch
			if router.Match(probe, &match) && match.MatchErr == nil && !slices.Contains(allow, m) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, errMethodNotAllowed)
	})
}
