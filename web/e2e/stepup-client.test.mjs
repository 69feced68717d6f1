// The SPA's reading of a step-up refusal (src/stepup.js), without a
// browser: from the JSON body, else from WWW-Authenticate (Bearer or DPoP),
// and nothing from any other answer.
//
//   node --test e2e/stepup-client.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationParams, setPendingStepUp, stepUpNeed, takePendingStepUp } from '../src/stepup.js';

const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const answer = (status, challenge) => new Response(null, { status, headers: challenge ? { 'WWW-Authenticate': challenge } : {} });

test('stepUpNeed reads the body the API sends', () => {
  const need = stepUpNeed(answer(401), { error: 'insufficient_user_authentication', error_description: 'why', acr_values: `${MFA} urn:loa:3`, max_age: 600 });
  assert.deepEqual(need, { description: 'why', acrValues: `${MFA} urn:loa:3`, maxAge: 600 });
  assert.deepEqual(authorizationParams(need), { acr_values: `${MFA} urn:loa:3`, max_age: 600 });
  const acrOnly = stepUpNeed(answer(401), { error: 'insufficient_user_authentication', error_description: 'x', acr_values: MFA });
  assert.deepEqual(authorizationParams(acrOnly), { acr_values: MFA });
  const maxAgeOnly = stepUpNeed(answer(401), { error: 'insufficient_user_authentication', error_description: 'x', max_age: 0 });
  assert.deepEqual(authorizationParams(maxAgeOnly), { max_age: 0 });
});

test('stepUpNeed falls back to the challenge, Bearer or DPoP', () => {
  for (const challenge of [
    `Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent login is required", acr_values="${MFA}", max_age="60"`,
    `DPoP error="insufficient_user_authentication", error_description="a more recent login is required", acr_values="${MFA}", max_age="60", algs="ES256"`,
  ]) {
    assert.deepEqual(stepUpNeed(answer(401, challenge), undefined), { description: 'a more recent login is required', acrValues: MFA, maxAge: 60 });
  }
  const noMaxAge = stepUpNeed(answer(401, `Bearer realm="api", error="insufficient_user_authentication", acr_values="${MFA}"`), undefined);
  assert.deepEqual(authorizationParams(noMaxAge), { acr_values: MFA });
});

test('stepUpNeed ignores every other answer', () => {
  assert.equal(stepUpNeed(answer(401, 'Bearer realm="api", error="invalid_token", error_description="token expired"'), { error: 'invalid_token' }), null);
  assert.equal(stepUpNeed(answer(403, 'Bearer realm="api", error="insufficient_scope", scope="write:messages"'), { error: 'insufficient_scope' }), null);
  // Only a 401 is a step-up refusal, whatever a body says.
  assert.equal(stepUpNeed(answer(200), { error: 'insufficient_user_authentication' }), null);
  // max_age inside another parameter's value is not max_age.
  const need = stepUpNeed(answer(401, 'Bearer error="insufficient_user_authentication", error_description="x max_age="9""'), undefined);
  assert.equal(need.maxAge, null);
});

test('the call to repeat is handed to its panel once', () => {
  setPendingStepUp({ panel: 'messages', method: 'DELETE', path: '/api/messages/1' });
  assert.equal(takePendingStepUp('endpoints'), null);
  assert.deepEqual(takePendingStepUp('messages'), { panel: 'messages', method: 'DELETE', path: '/api/messages/1' });
  assert.equal(takePendingStepUp('messages'), null);
  setPendingStepUp(undefined); // a login without appState
  assert.equal(takePendingStepUp('messages'), null);
});
