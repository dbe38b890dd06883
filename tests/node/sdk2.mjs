// tests/node/sdk2.mjs: the v2 MCP TypeScript SDK client (@modelcontextprotocol/client, pinned),
// re-exported so that tests outside this folder resolve it from tests/node/node_modules.
export * from '@modelcontextprotocol/client';
export { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
