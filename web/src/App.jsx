import { useEffect, useState } from 'react';
import { useAuth0 } from '@auth0/auth0-react';
import Messages from './Messages.jsx';
import StepUpNotice from './StepUp.jsx';
import { describeError, failure, tokenBinding, useApi } from './api.js';
import { stepUpNeed, takePendingStepUp } from './stepup.js';

// The four API endpoints; all but the public one are called with an access token.
const ENDPOINTS = [
  { path: '/api/public', testid: 'call-public', token: false },
  { path: '/api/private', testid: 'call-private', token: true },
  { path: '/api/private-scoped', testid: 'call-scoped', token: true },
  { path: '/api/me', testid: 'call-me', token: true },
];

export default function App({ apiUrl, settingsSource }) {
  const { isLoading, isAuthenticated, error, user, loginWithRedirect, logout, getAccessTokenSilently } =
    useAuth0();
  const api = useApi(apiUrl);
  // The last answer: one summary line (status first) and details below it.
  const [result, setResult] = useState({ status: '', text: 'No call yet.' });
  // How the access token is sent: { type: 'DPoP' | 'Bearer', jkt }.
  const [binding, setBinding] = useState(null);
  // A call refused for a weak or old login (StepUpNotice's props).
  const [stepUp, setStepUp] = useState(null);

  useEffect(() => {
    if (!isAuthenticated) {
      setBinding(null);
      return;
    }
    tokenBinding(getAccessTokenSilently).then(setBinding, () => setBinding(null));
  }, [isAuthenticated, getAccessTokenSilently]);

  // Back from a stronger login asked for by a refused call: repeat it once.
  useEffect(() => {
    if (!isAuthenticated) return;
    const pending = takePendingStepUp('endpoints');
    if (pending) call({ path: pending.path, token: true }, true);
    // Once per login: call is redefined on every render, and not a dependency.
  }, [isAuthenticated]);

  async function call({ path, token }, repeat = false) {
    setStepUp(null);
    const request = `GET ${path}`;
    setResult({ status: 'pending', text: `${request} …` });

    // Protected endpoints go through the SDK's fetcher (token, DPoP proof,
    // nonce retry); the public one is a plain fetch.
    let res, body;
    try {
      res = token ? await api.fetchWithAuth(path) : await fetch(apiUrl + path);
      body = await res.text();
    } catch (e) {
      setResult({ status: e?.error ? 'token-error' : 'network-error', text: `${request} → ${failure(e)}` });
      return;
    }

    let json;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const need = token && !repeat ? stepUpNeed(res, json) : null;
    if (need) {
      setStepUp({ need, call: { panel: 'endpoints', method: 'GET', path }, what: `GET ${path}` });
    }
    let text;
    if (res.ok) {
      text = `${request} → ${res.status} ${res.statusText}\n\n${json ? JSON.stringify(json, null, 2) : body}`;
    } else {
      text = `${request} → ${res.status} ${json?.error ?? res.statusText}: ${json?.error_description ?? body}`;
      const challenge = res.headers.get('WWW-Authenticate');
      if (challenge) text += `\n\nWWW-Authenticate: ${challenge}`;
    }
    setResult({ status: String(res.status), text });
  }

  return (
    <main>
      <h1>spaapi demo</h1>

      <section>
        {isLoading ? (
          <p>Loading…</p>
        ) : isAuthenticated ? (
          <>
            <p data-testid="user">
              Logged in as <b>{user.name}</b> ({user.email}) — <code>{user.sub}</code>
            </p>
            {binding && (
              <p data-testid="token-binding" data-type={binding.type}>
                {binding.type === 'DPoP' ? (
                  <>
                    Access token: <b>DPoP-bound</b> to this browser's key <code>{binding.jkt}</code> (sent as{' '}
                    <code>Authorization: DPoP</code> with a proof per request)
                  </>
                ) : (
                  <>
                    Access token: <b>bearer</b>, not bound to a key (anyone holding it can use it)
                  </>
                )}
              </p>
            )}
            <button data-testid="logout" onClick={() => logout({ logoutParams: { returnTo: window.location.origin } })}>
              Log out
            </button>
          </>
        ) : (
          <>
            <p>Not logged in.</p>
            <button data-testid="login" onClick={() => loginWithRedirect()}>
              Log in
            </button>
          </>
        )}
        {error && (
          <p role="alert" data-testid="auth-error">
            Login error: {describeError(error)}
          </p>
        )}
      </section>

      <section>
        <h2>
          Call the API at <span data-testid="api-url">{apiUrl}</span>
        </h2>
        <p data-testid="settings-source" data-source={settingsSource}>
          {settingsSource === 'build' ? (
            <>
              Settings: built in (<code>VITE_*</code>)
            </>
          ) : (
            <>
              Settings: from the server (<code>{settingsSource}</code>)
            </>
          )}
        </p>
        {ENDPOINTS.map((ep) => (
          <button key={ep.path} data-testid={ep.testid} onClick={() => call(ep)}>
            GET {ep.path}
          </button>
        ))}
        {stepUp && <StepUpNotice {...stepUp} onCancel={() => setStepUp(null)} />}
        <pre data-testid="result" data-status={result.status}>
          {result.text}
        </pre>
      </section>

      {isAuthenticated && <Messages api={api} />}
    </main>
  );
}
