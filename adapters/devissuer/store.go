package devissuer

import (
	"container/list"
	"time"
)

// Bounds on what the issuer keeps for others. Requests can come from any
// web page the developer's browser visits, so each kind of state has a
// cap: putting one more forgets the oldest (a stale login page then says
// "Login expired"), so memory stays bounded and a flood never locks the
// developer out.
const (
	MaxPendingLogins = 1000   // login pages awaiting a choice
	MaxCodes         = 1000   // authorization codes not yet exchanged
	MaxSessions      = 1000   // browser sessions
	MaxRefreshTokens = 10_000 // refresh tokens, used ones included (for reuse detection)
)

// expiring is a map whose entries expire in the order they were put (each
// kind of entry has one lifetime), holding at most max entries. Lookups are
// O(1); dropping expired entries costs only what expired. Server.mu
// guards it.
type expiring[V any] struct {
	max   int
	items map[string]*list.Element
	order list.List // of *entry[V], oldest first
}

type entry[V any] struct {
	key     string
	value   V
	expires time.Time
}

func newExpiring[V any](max int) *expiring[V] {
	return &expiring[V]{max: max, items: map[string]*list.Element{}}
}

// put adds value under key until expires, dropping expired entries and, at
// max, the oldest. It reports whether a live entry had to go.
func (e *expiring[V]) put(key string, value V, expires, now time.Time) (evicted bool) {
	e.expire(now)
	e.delete(key)
	if len(e.items) >= e.max {
		e.delete(e.order.Front().Value.(*entry[V]).key)
		evicted = true
	}
	e.items[key] = e.order.PushBack(&entry[V]{key: key, value: value, expires: expires})
	return evicted
}

// get returns key's value unless it is missing or expired.
func (e *expiring[V]) get(key string, now time.Time) (V, bool) {
	el, ok := e.items[key]
	if !ok || now.After(el.Value.(*entry[V]).expires) {
		var zero V
		return zero, false
	}
	return el.Value.(*entry[V]).value, true
}

// take is get, and deletes key whatever it held: single use.
func (e *expiring[V]) take(key string, now time.Time) (V, bool) {
	v, ok := e.get(key, now)
	e.delete(key)
	return v, ok
}

func (e *expiring[V]) delete(key string) {
	if el, ok := e.items[key]; ok {
		e.order.Remove(el)
		delete(e.items, key)
	}
}

// expire drops the expired entries, oldest first.
func (e *expiring[V]) expire(now time.Time) {
	for el := e.order.Front(); el != nil && now.After(el.Value.(*entry[V]).expires); el = e.order.Front() {
		e.delete(el.Value.(*entry[V]).key)
	}
}

// deleteIf deletes every entry whose value matches. It visits them all:
// for rare events only (refresh token reuse).
func (e *expiring[V]) deleteIf(match func(V) bool) {
	var keys []string
	for el := e.order.Front(); el != nil; el = el.Next() {
		if en := el.Value.(*entry[V]); match(en.value) {
			keys = append(keys, en.key)
		}
	}
	for _, k := range keys {
		e.delete(k)
	}
}

func (e *expiring[V]) len() int { return len(e.items) }
