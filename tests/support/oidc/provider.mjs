// A test OpenID Provider configured like a broker of the Finnish Trust Network (FTN).
//
// Built on the certified `oidc-provider` package (version 8). Started by the pytest fixture
// in tests/support/oidc/fixture.py on loopback; never used outside the tests.
//
// The FTN profile (Traficom recommendation 213/2023 S) as configured here:
//   - authorization code flow only, PKCE (S256) required;
//   - signed request objects (RS256), with kid, aud, exp, nbf, iat, jti and a short life;
//   - client authentication private_key_jwt (RS256) with kid and a jti used only once;
//   - ID tokens signed RS256 and encrypted RSA-OAEP-256 / A256GCM to the client's key;
//   - acr values http://ftn.ficora.fi/2017/loa2 (substantial) and loa3 (high);
//   - claims name, given_name, family_name, birthdate, personal_identity_code; and groups
//     (scope or claims parameter), as a workforce provider would give for staff sign-in.
// Clients are registered by the tests (RFC 7591, POST /reg) with require_signed_request_object
// true for the FTN profile. A client registered with client_secret_basic and no
// id_token_encrypted_response_alg gets plain signed ID tokens (the "other provider" mode).
//
// Environment:
//   OIDC_PORT                 the port on 127.0.0.1 (required)
//   OIDC_REGISTRATION_TOKEN   the initial access token for dynamic client registration
//                             (POST /reg, RFC 7591), required
//
// Test-only routes (the fixture uses them):
//   GET  /interaction/:uid          the login form: a test person and a level of assurance
//   POST /interaction/:uid/login    fields `person` and `acr`
//   POST /test/clients/:id/forget-keys   (bearer: the registration token) makes the provider
//                                   treat its copy of the client's JWKS as stale, as if its
//                                   cache time (at least 60 s in oidc-provider) had passed.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const LOA2 = 'http://ftn.ficora.fi/2017/loa2';
const LOA3 = 'http://ftn.ficora.fi/2017/loa3';

// Made-up people. The identity codes use the individual numbers 900-999, which are reserved
// for testing and never given to anybody.
const PERSONS = {
  'aino-demo': {
    given_name: 'Aino',
    family_name: 'Demo-Asukas',
    birthdate: '1990-01-01',
    personal_identity_code: '010190-904U',
  },
  'eino-demo': {
    given_name: 'Eino',
    family_name: 'Demo',
    birthdate: '1938-05-15',
    personal_identity_code: '150538-9173',
  },
  'noora-demo': {
    given_name: 'Noora',
    family_name: 'Demo',
    birthdate: '2004-03-07',
    personal_identity_code: '070304A926U',
    groups: ['demo-counsellors', 'unrelated-group'],
  },
};

const port = Number(process.env.OIDC_PORT);
const registrationToken = process.env.OIDC_REGISTRATION_TOKEN;
if (!port || !registrationToken) {
  console.error('OIDC_PORT and OIDC_REGISTRATION_TOKEN are required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `op-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };
}

function account(id) {
  const person = PERSONS[id];
  if (!person) return undefined;
  return {
    accountId: id,
    async claims() {
      return { sub: id, name: `${person.given_name} ${person.family_name}`, ...person };
    },
  };
}

// The FTN rules on request objects: kid, aud, exp, nbf, iat and jti, at most ten minutes.
async function requestObjectRules(ctx, claims, header) {
  if (!header.kid) throw new errors.InvalidRequestObject('the request object has no kid');
  for (const claim of ['aud', 'exp', 'nbf', 'iat', 'jti']) {
    if (!(claim in claims)) throw new errors.InvalidRequestObject(`the request object has no ${claim}`);
  }
  if (claims.exp - claims.nbf > 600) {
    throw new errors.InvalidRequestObject('the request object lives longer than ten minutes');
  }
}

const provider = new Provider(issuer, {
  acrValues: [LOA2, LOA3],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'birthdate'],
    personal_identity_code: ['personal_identity_code'],
    groups: ['groups'],
    acr: null,
    auth_time: null,
  },
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    id_token_signed_response_alg: 'RS256',
  },
  clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
  clockTolerance: 5,
  cookies: { keys: [randomBytes(16).toString('hex')] },
  enabledJWA: {
    clientAuthSigningAlgValues: ['RS256'],
    idTokenSigningAlgValues: ['RS256'],
    requestObjectSigningAlgValues: ['RS256'],
    idTokenEncryptionAlgValues: ['RSA-OAEP-256'],
    idTokenEncryptionEncValues: ['A256GCM'],
  },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    encryption: { enabled: true },
    registration: { enabled: true, initialAccessToken: registrationToken },
    requestObjects: {
      request: true,
      requestUri: false,
      // Required per client (require_signed_request_object), so that the second test
      // client, like another provider's, can do without.
      requireSignedRequestObject: false,
      assertJwtClaimsAndHeader: requestObjectRules,
    },
    userinfo: { enabled: true },
  },
  findAccount: async (ctx, id) => account(id),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  jwks: { keys: [signingKey()] },
  pkce: { methods: ['S256'], required: () => true },
  responseTypes: ['code'],
  ttl: { AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600, IdToken: 300 },
  async assertJwtClientAuthClaimsAndHeader(ctx, claims, header) {
    if (!header.kid) throw new errors.InvalidClientAuth('the client assertion has no kid');
    if (!claims.jti) throw new errors.InvalidClientAuth('the client assertion has no jti');
  },
});


function html(body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">`
    + `<title>Test broker</title></head><body>${body}</body></html>`;
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginForm(uid) {
  const people = Object.entries(PERSONS)
    .map(([id, p]) => `<option value="${id}">${escape(p.given_name)} ${escape(p.family_name)}</option>`)
    .join('');
  return html(
    `<h1>Test identification</h1>`
    + `<form method="post" action="/interaction/${uid}/login">`
    + `<label>Person <select name="person">${people}</select></label>`
    + `<label>Level <select name="acr"><option value="${LOA3}">high</option>`
    + `<option value="${LOA2}">substantial</option></select></label>`
    + `<button type="submit">Identify</button></form>`,
  );
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function consent(req, res, details) {
  // Consent is implied for the registered test clients: grant what was asked for.
  const { params, session, prompt } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

async function interaction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return send(res, 404, html('not found'));
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== match[1]) return send(res, 400, html('wrong interaction'));
  if (req.method === 'GET') {
    if (details.prompt.name === 'consent') return consent(req, res, details);
    return send(res, 200, loginForm(details.uid));
  }
  if (req.method === 'POST' && match[2]) {
    const form = await readForm(req);
    const person = form.get('person');
    const acr = form.get('acr');
    if (!PERSONS[person] || ![LOA2, LOA3].includes(acr)) {
      return send(res, 400, html('unknown person or level'));
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: person, acr, amr: ['ftn'] },
    }, { mergeWithLastSubmission: false });
    return undefined;
  }
  return send(res, 405, html('method not allowed'));
}

async function forgetKeys(req, res, clientId) {
  if (req.headers.authorization !== `Bearer ${registrationToken}`) {
    return send(res, 401, '{}', 'application/json');
  }
  const client = await provider.Client.find(clientId);
  if (!client) return send(res, 404, '{}', 'application/json');
  client.asymmetricKeyStore.freshUntil = 0;
  return send(res, 200, '{"forgotten": true}', 'application/json');
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  const forget = url.pathname.match(/^\/test\/clients\/([\w-]+)\/forget-keys$/);
  let handled;
  if (url.pathname.startsWith('/interaction/')) {
    handled = interaction(req, res, url);
  } else if (forget && req.method === 'POST') {
    handled = forgetKeys(req, res, forget[1]);
  } else {
    callback(req, res);
    return;
  }
  handled.catch((err) => {
    console.error('interaction failed:', err.message);
    if (!res.headersSent) send(res, 500, html('interaction failed'));
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc test provider listening on ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
