import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Auth0Provider } from '@auth0/auth0-react';
import App from './App.jsx';
import { setPendingStepUp, STEP_UP_APP_STATE } from './stepup.js';
import './style.css';

// onRedirectCallback runs once a login has completed: it hands a call
// refused for a weak or old login (step-up) to the panel that made it, to
// repeat once, and drops the code and state from the address bar as the
// SDK does by default.
function onRedirectCallback(appState) {
  setPendingStepUp(appState?.[STEP_UP_APP_STATE]);
  window.history.replaceState({}, document.title, window.location.pathname);
}

// The SDK turns `domain` into URLs as `${domain}/authorize` etc. (adding
// https:// only when no scheme is given) and expects ID tokens with
// iss = `${domain}/`, so a trailing slash must go.
const trimSlash = (s) => (s || '').replace(/\/+$/, '');

// Settings come from the server at run time when it has them: the API
// serving this build (SPA_DIR) answers /config.json with its issuer, client
// ID, audience, its own URL and whether to use DPoP, so one build deploys
// to any environment. Without that file (npm run dev, vite preview, a
// static host that answers it with index.html) they are the VITE_*
// variables read at build time (.env, .env.local or the process
// environment).
async function loadSettings() {
  let res;
  try {
    res = await fetch('/config.json', { cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch {
    res = undefined; // no server settings: the build's
  }
  if (res?.ok && (res.headers.get('Content-Type') || '').startsWith('application/json')) {
    const c = await res.json();
    return {
      source: '/config.json',
      names: { domain: 'issuer', clientId: 'clientId', audience: 'audience' },
      domain: c.issuer,
      clientId: c.clientId,
      audience: c.audience,
      apiUrl: c.apiUrl || window.location.origin, // the API serving this page
      useDpop: c.dpop === true,
    };
  }
  const env = import.meta.env;
  return {
    source: 'build',
    names: { domain: 'VITE_AUTH0_DOMAIN', clientId: 'VITE_AUTH0_CLIENT_ID', audience: 'VITE_AUTH0_AUDIENCE', apiUrl: 'VITE_API_URL' },
    domain: env.VITE_AUTH0_DOMAIN,
    clientId: env.VITE_AUTH0_CLIENT_ID,
    audience: env.VITE_AUTH0_AUDIENCE,
    apiUrl: env.VITE_API_URL,
    // DPoP (RFC 9449): the SDK binds tokens to a key kept in this browser
    // and signs a proof for every API call. On unless VITE_USE_DPOP=false
    // (with an Auth0 tenant, turn it on only once DPoP is enabled there;
    // see web/README.md).
    useDpop: env.VITE_USE_DPOP !== 'false',
  };
}

const root = createRoot(document.getElementById('root'));
loadSettings().then(
  (s) => {
    const missing = Object.entries(s.names)
      .filter(([key]) => !s[key])
      .map(([, name]) => name);
    if (missing.length > 0) {
      const where = s.source === 'build' ? 'web/.env' : s.source;
      root.render(<p role="alert">Missing configuration: {missing.join(', ')} (see {where}).</p>);
      return;
    }
    root.render(
      <StrictMode>
        <Auth0Provider
          domain={trimSlash(s.domain)}
          clientId={s.clientId}
          useDpop={s.useDpop}
          onRedirectCallback={onRedirectCallback}
          authorizationParams={{
            redirect_uri: window.location.origin,
            audience: s.audience,
            scope: 'openid profile email read:messages write:messages',
          }}
        >
          <App apiUrl={trimSlash(s.apiUrl)} settingsSource={s.source} />
        </Auth0Provider>
      </StrictMode>,
    );
  },
  (e) => root.render(<p role="alert">Could not read the settings from /config.json: {String(e?.message || e)}</p>),
);
