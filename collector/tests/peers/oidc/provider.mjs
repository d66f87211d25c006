// A certified OpenID provider (panva/oidc-provider, OpenID Foundation certified) on loopback for the console's
// single sign-on tests (collector/tests/console_browser/sso.rs).
//
// Protocol with the test, one JSON line each way on stdio:
//   -> {"issuer": "http://127.0.0.1:PORT"}                 once listening
//   <- {"redirect_uri", "client_id", "client_secret", "accounts": {"alice": ["group", ...], ...}}
//   -> {"ready": true}
// The sign-in page is this script's own (a login field, no password: the provider is the test's), so nothing is
// fetched from the internet. Test controls, on the same port:
//   POST /__test/groups {"sub", "groups"}      changes an account's groups
//   POST /__test/mode {"mode"}                 alters the next ID tokens the token endpoint returns:
//        "tamper"   a claim changed after signing (the signature no longer verifies)
//        "audience" re-signed with the provider's key for another client
//        "expired"  re-signed with the provider's key, expired an hour ago
//        null       as issued
//   GET  /__test/last-callback                 the last address the provider sent a browser back to
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
process.stdout.write(`${JSON.stringify({ issuer })}\n`);

const lines = readline.createInterface({ input: process.stdin });
const config = JSON.parse(await new Promise((resolve) => lines.once('line', resolve)));
const accounts = config.accounts;
let mode = null;
let lastCallback = '';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    // RP-Initiated Logout: the console's sign-in page, where the provider sends the browser after signing out.
    post_logout_redirect_uris: [config.redirect_uri.replace('/login/sso/callback', '/login')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  // The claims go into the ID token itself, as Keycloak's, Entra's and Okta's group claims are configured to.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['muster-test-only-cookie-key'] },
  async findAccount(ctx, sub) {
    if (!(sub in accounts)) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: sub, name: sub, groups: accounts[sub] };
      },
    };
  },
  // A first-party client: consent is given, as an administrator would configure for an internal application.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile groups');
    grant.addOIDCClaims(['preferred_username', 'name', 'groups']);
    await grant.save();
    return grant;
  },
});

function b64(json) {
  return Buffer.from(JSON.stringify(json)).toString('base64url');
}

async function alter(idToken) {
  const [, payload] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const resign = (changed) => new SignJWT(changed)
    .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid })
    .sign(privateKey);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'tamper': {
      const parts = idToken.split('.');
      parts[1] = b64({ ...claims, groups: ['muster-admins'] });
      return parts.join('.');
    }
    case 'audience':
      return resign({ ...claims, aud: 'another-app', azp: 'another-app' });
    case 'expired':
      return resign({ ...claims, iat: now - 7200, exp: now - 3600 });
    default:
      return idToken;
  }
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'token' && ctx.body?.id_token && mode) {
    ctx.body = { ...ctx.body, id_token: await alter(ctx.body.id_token) };
  }
  const location = ctx.response.get('location');
  if (location && location.startsWith(config.redirect_uri)) lastCallback = location;
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function body(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Test identity provider</title><h1>Test identity provider</h1>
<form method="post" action="/interaction/${escape(uid)}"><input id="login" name="login" autofocus>
<button id="submit" type="submit">Sign in</button></form>`);
    return;
  }
  const form = new URLSearchParams(await body(req));
  const result = details.prompt.name === 'login' ? { login: { accountId: form.get('login') } } : {};
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)$/);
    if (match) return await interaction(req, res, match[1]);
    if (url.pathname === '/__test/groups' && req.method === 'POST') {
      const { sub, groups } = JSON.parse(await body(req));
      accounts[sub] = groups;
      return res.end('ok');
    }
    if (url.pathname === '/__test/mode' && req.method === 'POST') {
      mode = JSON.parse(await body(req)).mode;
      return res.end('ok');
    }
    if (url.pathname === '/__test/last-callback') return res.end(lastCallback);
    return callback(req, res);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    return res.end(String(e.stack || e));
  }
});

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
