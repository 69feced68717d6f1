import { useCallback, useEffect, useState } from 'react';
import { useAuth0 } from '@auth0/auth0-react';
import { failure } from './api.js';
import StepUpNotice from './StepUp.jsx';
import { stepUpNeed, takePendingStepUp } from './stepup.js';

// How many messages a page holds (the API allows 1 to 100).
const PAGE_SIZE = 10;

// explain adds a line on what to do about an error answer.
function explain(status, body) {
  if (status === 403 && body?.error === 'insufficient_scope') {
    return 'Your access token lacks the scope this needs: log in as a user who is granted it (alice, in development).';
  }
  if (status === 429) return 'You keep as many messages as one author may: delete one to post another.';
  if (status === 503) return 'The API cannot reach what it needs right now; try again in a few seconds.';
  return '';
}

// describeCall names, for the step-up notice, what a call was doing.
function describeCall(method) {
  if (method === 'DELETE') return 'Deleting this message';
  if (method === 'POST') return 'Posting';
  return 'Reading the messages';
}

// The messages panel: the list (newest first, "load more" following the
// API's next_cursor), a form to post, a delete button on the caller's own
// messages, and every error as the API said it. api is the SDK's fetcher
// (useApi): the access token, its DPoP proof and nonce retries.
export default function Messages({ api }) {
  const { user } = useAuth0();
  const [messages, setMessages] = useState([]);
  const [next, setNext] = useState(null); // the API's next_cursor, if any
  const [text, setText] = useState('');
  const [error, setError] = useState(null); // { line, hint }
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState(false); // the first page has been asked for and answered
  // A call refused for a weak or old login: { need, call, what } (StepUpNotice).
  const [stepUp, setStepUp] = useState(null);
  // What the call repeated after a stronger login answered: { line, ok }.
  const [retried, setRetried] = useState(null);

  // request calls the API with the access token and returns { res, body };
  // on failure it shows the error and returns null.
  const request = useCallback(
    async (method, path, payload, repeat = false) => {
      const what = `${method} ${path}`;
      const headers = {};
      if (payload !== undefined) headers['Content-Type'] = 'application/json';
      let res;
      try {
        res = await api.fetchWithAuth(path, {
          method,
          headers,
          body: payload === undefined ? undefined : JSON.stringify(payload),
        });
      } catch (e) {
        setError({ line: `${what} → ${failure(e)}` });
        return null;
      }
      const raw = await res.text();
      let body;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const need = stepUpNeed(res, body);
      if (need && !repeat) {
        // The login is valid but not strong or recent enough: say why,
        // and offer the login that is (the call is repeated once after).
        setError(null);
        setStepUp({ need, call: { panel: 'messages', method, path, payload }, what: describeCall(method) });
        return null;
      }
      if (!res.ok) {
        let line = `${what} → ${res.status} ${body?.error ?? res.statusText}: ${body?.error_description ?? raw}`;
        const retry = res.headers.get('Retry-After');
        if (retry) line += ` (Retry-After: ${retry} s)`;
        setError({ line, hint: explain(res.status, body) });
        return null;
      }
      setError(null);
      return { res, body };
    },
    [api],
  );

  const load = useCallback(
    async (cursor) => {
      setBusy(true);
      const query = `?limit=${PAGE_SIZE}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '');
      const answer = await request('GET', `/api/messages${query}`);
      setBusy(false);
      setLoaded(true);
      if (!answer) return;
      setMessages((old) => (cursor ? [...old, ...answer.body.messages] : answer.body.messages));
      setNext(answer.body.next_cursor ?? null);
    },
    [request],
  );

  useEffect(() => {
    // Back from a stronger login asked for by a refused call: repeat that
    // call once, then show the list as it now is.
    const call = takePendingStepUp('messages');
    if (!call) {
      load(null);
      return;
    }
    (async () => {
      setBusy(true);
      const answer = await request(call.method, call.path, call.payload, true);
      setBusy(false);
      setRetried({ ok: answer !== null, line: `${call.method} ${call.path} → ${answer ? answer.res.status : 'refused'} after the new login` });
      await load(null);
    })();
  }, [load, request]);

  async function post(e) {
    e.preventDefault();
    setBusy(true);
    const answer = await request('POST', '/api/messages', { text });
    setBusy(false);
    if (!answer) return;
    setMessages((old) => [answer.body, ...old]);
    setText('');
  }

  async function remove(id) {
    setStepUp(null);
    setRetried(null);
    setBusy(true);
    const answer = await request('DELETE', `/api/messages/${encodeURIComponent(id)}`);
    setBusy(false);
    if (answer) setMessages((old) => old.filter((m) => m.id !== id));
  }

  return (
    <section>
      <h2>Messages</h2>
      <form onSubmit={post}>
        <input
          data-testid="message-text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Say something (up to 500 characters)"
          maxLength={500}
          size={50}
        />
        <button data-testid="post-message" type="submit" disabled={busy || text.trim() === ''}>
          Post
        </button>
      </form>
      {stepUp && <StepUpNotice {...stepUp} onCancel={() => setStepUp(null)} />}
      {retried && (
        <p data-testid="step-up-retried" data-ok={retried.ok ? 'true' : 'false'}>
          {retried.line}
        </p>
      )}
      {error && (
        <div role="alert" data-testid="messages-error">
          <p>{error.line}</p>
          {error.hint && <p>{error.hint}</p>}
        </div>
      )}
      <ul data-testid="messages" data-busy={busy ? 'true' : 'false'} data-loaded={loaded ? 'true' : 'false'}>
        {messages.map((m) => (
          <li key={m.id} data-testid="message" data-id={m.id}>
            <span className="message-text">{m.text}</span>{' '}
            <small>
              — {m.author}, {new Date(m.created_at).toLocaleString()}
            </small>
            {m.author === user?.sub && (
              <button data-testid="delete-message" onClick={() => remove(m.id)} disabled={busy}>
                Delete
              </button>
            )}
          </li>
        ))}
      </ul>
      {next && (
        <button data-testid="load-more" onClick={() => load(next)} disabled={busy}>
          Load more
        </button>
      )}
    </section>
  );
}
