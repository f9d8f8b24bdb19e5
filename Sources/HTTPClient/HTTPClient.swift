// HTTPClient: a small blocking HTTP/1.1 client for workers (curl and OpenAPI tools, openai_chat,
// remote MCP servers).
