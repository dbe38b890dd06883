// tests/node/sdk.mjs: the pinned MCP TypeScript SDK, re-exported so that tests outside this folder
// (tests/integration/*.test.mjs) resolve it from tests/node/node_modules.
export { Client } from '@modelcontextprotocol/sdk/client/index.js';
export { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
export { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
export { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
export * from '@modelcontextprotocol/sdk/types.js';
