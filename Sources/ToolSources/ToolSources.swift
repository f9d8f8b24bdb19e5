// ToolSources: turns descriptions (curl command lines, OpenAPI documents, settings) into tool
// definitions and the specs workers run them from. Pure functions; the supervisor calls them.
