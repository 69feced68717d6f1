import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Auth0Provider } from '@auth0/auth0-react';
import App from './App.jsx';
import './style.css';

// All configuration comes from VITE_* variables (.env, .env.local or the
// process environment), read at build time.
const env = import.meta.env;
const missing = ['VITE_AUTH0_DOMAIN', 'VITE_AUTH0_CLIENT_ID', 'VITE_AUTH0_AUDIENCE', 'VITE_API_URL'].filter(
  (name) => !env[name],
);

// The SDK turns `domain` into URLs as `${domain}/authorize` etc. (adding
// https:// only when no scheme is given) and expects ID tokens with
// iss = `${domain}/`, so a trailing slash must go.
const trimSlash = (s) => (s || '').replace(/\/+$/, '');

// DPoP (RFC 9449): the SDK binds tokens to a key kept in this browser and
// signs a proof for every API call. On unless VITE_USE_DPOP=false (with an
// Auth0 tenant, turn it on only once DPoP is enabled there; see web/README.md).
const useDpop = env.VITE_USE_DPOP !== 'false';

const root = createRoot(document.getElementById('root'));
if (missing.length > 0) {
  root.render(<p role="alert">Missing configuration: {missing.join(', ')} (see web/.env).</p>);
} else {
  root.render(
    <StrictMode>
      <Auth0Provider
        domain={trimSlash(env.VITE_AUTH0_DOMAIN)}
        clientId={env.VITE_AUTH0_CLIENT_ID}
        useDpop={useDpop}
        authorizationParams={{
          redirect_uri: window.location.origin,
          audience: env.VITE_AUTH0_AUDIENCE,
          scope: 'openid profile email read:messages write:messages',
        }}
      >
        <App apiUrl={trimSlash(env.VITE_API_URL)} />
      </Auth0Provider>
    </StrictMode>,
  );
}
