// ToolSources: turns descriptions (curl command lines, OpenAPI documents, settings) into tool
// definitions and the specs workers run them from. Pure functions; the supervisor calls them.
//
// Every source yields pairs of (ToolDefinition, spec): the definition is what clients see (name,
// description, input schema), the spec is the JSON object mcp-worker's Connectors run the call
// from (see the `kind` table in the issue-4 contract). Specs may hold secrets (auth, api keys):
// the supervisor stores them but never returns them from a read API.
import JSON
import Tools

/// A description that cannot become a tool: the message says what is wrong and where, in words an
/// operator can act on (it is returned as INVALID_CONFIGURATION details).
public struct ToolSourceError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// One tool a source produced: what clients see (`.0`), and the spec the worker runs it from.
public typealias SourcedTool = (ToolDefinition, spec: JSONObject)
