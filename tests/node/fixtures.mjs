// tests/node/fixtures.mjs: the plugins.yml, resources.yml and prompts.yml (as JSON-able values,
// written as YAML by startServer) and wasm files that the integration tests share.
import assert from 'node:assert/strict';

import { McpError } from './sdk.mjs';
import { testPlugin, wasimancerPlugin } from './server.mjs';

export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

export const PLUGINS = {
  about: 'wasimancer integration tests (tests/node/fixtures.mjs)',
  plugins: [
    {
      name: 'roll dice', path: '/wasimancer-plugin-roll-dice.wasm', version: '1.0.0', description: 'roll dice',
      functions: [{
        displayName: 'rollDice', function: 'rollDice', description: 'a function to roll dice',
        arguments: [
          { name: 'numFaces', type: 'number', description: 'number of faces on the dice' },
          { name: 'numDice', type: 'number', description: 'number of dice to roll' },
        ],
      }],
    },
    {
      name: 'hello', path: './wasimancer-plugin-hello.wasm', version: '1.0.0', description: 'hello greetings',
      functions: [{
        displayName: 'sayHello', function: 'say_hello', description: 'a function to say hello',
        arguments: [{ name: 'name', type: 'string', description: 'name of the person' }],
      }],
    },
    {
      name: 'addition', path: 'wasimancer_plugin_addition.wasm', version: '1.0.0', description: 'addition',
      functions: [{
        displayName: 'add', function: 'add', description: 'adds left and right',
        arguments: [{ name: 'left', type: 'number' }, { name: 'right', type: 'number' }],
      }],
    },
    {
      name: 'echo', path: 'echo.wasm', description: 'our echo test plugin',
      functions: [
        { displayName: 'fail', function: 'fail', description: 'fails with its input as the error',
          arguments: [{ name: 'reason', type: 'string' }] },
        { displayName: 'echo', function: 'echo', description: 'returns its input',
          arguments: [{ name: 'text', type: 'string' }, { name: 'count', type: 'integer' }, { name: 'flag', type: 'boolean' },
            { name: 'tags', type: 'array' }, { name: 'extra', type: 'object' }] },
      ],
    },
    {
      name: 'hostile', path: 'hostile.wasm', timeoutMs: 500, description: 'misbehaving plugin',
      functions: [{ displayName: 'spin', function: 'infinite_loop', description: 'never returns' }],
    },
    { name: 'log', path: 'log.wasm', description: 'logs', functions: [{ displayName: 'log_all', function: 'log_all', description: 'logs at every level' }] },
    {
      name: 'mcp features', path: 'mcp_features.wasm', description: 'MCP host functions',
      functions: [
        { displayName: 'progress_steps', function: 'progress_steps', description: 'reports progress 3 times' },
        { displayName: 'notify', function: 'notify', description: 'sends a log message to the client',
          arguments: [{ name: 'message', type: 'string' }] },
        { displayName: 'ask_model', function: 'ask_model', description: 'asks the client to sample',
          arguments: [{ name: 'question', type: 'string' }] },
        { displayName: 'ask_user', function: 'ask_user', description: 'asks the user (elicitation)',
          arguments: [{ name: 'question', type: 'string' }] },
      ],
    },
  ],
};

export const RESOURCES = {
  resources: {
    static: [
      { name: 'server-info', uri: 'config://server', description: 'about the server', mimeType: 'text/plain',
        contents: [{ text: 'This is WASImancer, running on MCP!' }] },
      { name: 'pixel', uri: 'test://pixel.png', description: 'a 1x1 PNG', mimeType: 'image/png', contents: [{ blob: PNG }] },
    ],
    dynamic: [
      { name: 'greet-user', uri: 'greet-user://{firstName}/{lastName}', description: 'greets a user',
        arguments: [{ name: 'firstName', type: 'string', values: ['Bob', 'Bill', 'Alice'] }, { name: 'lastName', type: 'string' }],
        contents: [{ text: 'Say hello to ${firstName} ${lastName}!' }] },
    ],
  },
};

export const PROMPTS = {
  prompts: {
    predefined: [
      { name: 'code-analyst', description: 'analyses code',
        arguments: [{ name: 'code', type: 'string', description: 'the code' },
          { name: 'language', type: 'string', values: ['java', 'javascript', 'go', 'rust'] }],
        messages: [{ role: 'user', text: 'Analyze my ${language} source code: ${code}' },
          { role: 'assistant', text: 'Sure, here is my analysis of ${code}.' }] },
      { name: 'image-prompt', description: 'an image and a resource',
        messages: [{ role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'resource', resource: { uri: 'config://server', mimeType: 'text/plain', text: 'embedded' } } }] },
    ],
  },
};

export const WASM = [
  wasimancerPlugin('wasimancer-plugin-roll-dice.wasm'), wasimancerPlugin('wasimancer-plugin-hello.wasm'),
  wasimancerPlugin('wasimancer_plugin_addition.wasm'), testPlugin('echo'), testPlugin('hostile'), testPlugin('log'),
  testPlugin('mcp_features'),
];

// The text of a tool result (its text content items, joined).
export const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');

// Asserts that `promise` rejects with an McpError (a JSON-RPC error) of `code`, whose message
// matches `pattern`.
export async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof McpError, `expected an McpError, got ${e}`);
    assert.equal(e.code, code, `error code of: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}
