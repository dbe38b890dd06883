// tests/node/oauth.mjs: the pinned authorization server (oidc-provider) and the SDK's OAuth
// client pieces, re-exported so that tests/integration/oauth.test.mjs resolves them from
// tests/node/node_modules.
export { default as Provider, errors as ProviderErrors } from 'oidc-provider';
export { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
