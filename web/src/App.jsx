import { useState } from 'react';
import { useAuth0 } from '@auth0/auth0-react';
import Messages from './Messages.jsx';

// The four API endpoints; all but the public one are called with an access token.
const ENDPOINTS = [
  { path: '/api/public', testid: 'call-public', token: false },
  { path: '/api/private', testid: 'call-private', token: true },
  { path: '/api/private-scoped', testid: 'call-scoped', token: true },
  { path: '/api/me', testid: 'call-me', token: true },
];

// describeError turns an SDK error (which carries OAuth `error` and
// `error_description`) or any other exception into one line.
function describeError(e) {
  if (e && e.error) return `${e.error}: ${e.error_description || e.message || ''}`;
  return String((e && e.message) || e);
}

export default function App({ apiUrl }) {
  const { isLoading, isAuthenticated, error, user, loginWithRedirect, logout, getAccessTokenSilently } =
    useAuth0();
  // The last answer: one summary line (status first) and details below it.
  const [result, setResult] = useState({ status: '', text: 'No call yet.' });

  async function call({ path, token }) {
    const request = `GET ${path}`;
    setResult({ status: 'pending', text: `${request} …` });

    const headers = {};
    if (token) {
      try {
        headers.Authorization = `Bearer ${await getAccessTokenSilently()}`;
      } catch (e) {
        setResult({ status: 'token-error', text: `${request} → no access token: ${describeError(e)}` });
        return;
      }
    }

    let res, body;
    try {
      res = await fetch(apiUrl + path, { headers });
      body = await res.text();
    } catch (e) {
      // fetch fails without a response on network errors and CORS refusals.
      setResult({ status: 'network-error', text: `${request} → request failed: ${describeError(e)}` });
      return;
    }

    let json;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
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
        <h2>Call the API at {apiUrl}</h2>
        {ENDPOINTS.map((ep) => (
          <button key={ep.path} data-testid={ep.testid} onClick={() => call(ep)}>
            GET {ep.path}
          </button>
        ))}
        <pre data-testid="result" data-status={result.status}>
          {result.text}
        </pre>
      </section>

      {isAuthenticated && <Messages apiUrl={apiUrl} />}
    </main>
  );
}
