import { useAuth0 } from '@auth0/auth0-react';
import { authorizationParams, STEP_UP_APP_STATE } from './stepup.js';

// StepUpNotice says why the API refused a call with a valid login (401
// insufficient_user_authentication) and offers to log in again with what
// it asks; the call is repeated once on the way back. need is stepUpNeed's
// answer, call the { panel, method, path, payload } to repeat.
export default function StepUpNotice({ need, call, what, onCancel }) {
  const { loginWithRedirect } = useAuth0();
  const asks = [];
  if (need.acrValues) asks.push(`a stronger login (acr ${need.acrValues.split(' ').join(' or ')})`);
  if (need.maxAge !== null) asks.push(`a login within the last ${need.maxAge} seconds`);

  function again() {
    loginWithRedirect({
      authorizationParams: authorizationParams(need),
      appState: { [STEP_UP_APP_STATE]: call },
    });
  }

  return (
    <div role="alert" data-testid="step-up" data-acr-values={need.acrValues} data-max-age={need.maxAge ?? ''}>
      <p>
        <b>{what} needs you to log in again.</b> The API asks for {asks.join(' and ') || 'a new login'}:{' '}
        <span data-testid="step-up-reason">{need.description}</span>
      </p>
      <p>
        After the login you come back here and the request is sent once more.{' '}
        <button data-testid="step-up-login" onClick={again}>
          Log in again
        </button>{' '}
        <button data-testid="step-up-cancel" onClick={onCancel}>
          Cancel
        </button>
      </p>
    </div>
  );
}
