// `add_tools_from_openapi`: every operation of an OpenAPI 3.0/3.1 document (JSON) becomes a tool
// whose inputs are the operation's parameters plus its JSON request body.
import JSON
import Tools

/// What an import made, and which operations it had to leave out and why.
public struct OpenAPIImportResult: Sendable {
    public var tools: [SourcedTool]
    /// e.g. ("uploadFile", "its request body is multipart/form-data only; mcpd sends JSON bodies").
    public var skipped: [(operation: String, reason: String)]
}

public enum OpenAPIImport {
    /// The tools of `document`, an OpenAPI 3.x document as JSON (a JSON string holding one is
    /// accepted too; YAML is not).
    ///
    /// - Names: each operation's `operationId` made valid as a tool name (other characters become
    ///   '_'); without one, `<method>_<path>` likewise, e.g. `get_pets_petId`. A repeated name gets
    ///   `_2`, `_3`, ...
    /// - Inputs: path, query, header and cookie parameters (path-level and operation-level
    ///   merged, the operation's winning) by name, each with its schema; path parameters are always
    ///   required. A parameter whose name is taken (same name in two places, or "body") is renamed
    ///   `<name>_<in>`. An application/json (or +json) request body is the input `body`.
    /// - Base URL: `baseURL` when given, else the operation's, path's or document's first server
    ///   (variables replaced with their defaults); it must be absolute http(s).
    /// - `authConfig`: {"auth_strategy", "auth"} as in seed 001 (see `UpstreamAuth`); an api_key
    ///   without a header name uses the document's apiKey security scheme header, if it has one.
    ///
    /// Operations that cannot be called (a required body that is not JSON) are left out; see
    /// `importDocument` for the list. Spec per tool: {"kind": "openapi", "method", "base_url",
    /// "path", "parameters": [{"name", "in", "required", "property"? (input name when it differs),
    /// "explode"? (false only)}], "body": {"content_type", "required"} | null, "auth": {...} | null}.
    public static func tools(document: JSONValue, authConfig: JSONObject?, baseURL: String?) throws(ToolSourceError) -> [SourcedTool] {
        try importDocument(document: document, authConfig: authConfig, baseURL: baseURL).tools
    }

    /// As `tools`, with the operations left out.
    public static func importDocument(document: JSONValue, authConfig: JSONObject?, baseURL: String?) throws(ToolSourceError) -> OpenAPIImportResult {
        let root = try documentObject(document)
        let references = OpenAPIReferences(document: .object(root))
        let auth = try UpstreamAuth.authObject(from: authConfig, defaultAPIKeyHeader: apiKeyHeader(in: root, references: references))
        var explicitBase: String?
        if let baseURL, !baseURL.isEmpty { explicitBase = try checkedBaseURL(baseURL, origin: "base_url") }

        guard let paths = root["paths"]?.objectValue, !paths.isEmpty else {
            throw ToolSourceError("the OpenAPI document has no paths, so there are no operations to turn into tools")
        }
        let builder = OperationToolBuilder(references: references, auth: auth)
        var result = OpenAPIImportResult(tools: [], skipped: [])
        var usedNames = Set<String>()
        for (path, pathValue) in paths {
            guard path.hasPrefix("/") else { throw ToolSourceError("paths: '\(path)' must start with '/'") }
            let pathItem = try references.resolvedObject(pathValue, location: "paths.\(path)")
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                guard let operationValue = pathItem[method] else { continue }
                let location = "paths.\(path).\(method)"
                guard let operation = operationValue.objectValue else { throw ToolSourceError("\(location) must be an object") }

                let operationId = operation["operationId"]?.stringValue ?? ""
                var name = ToolNaming.sanitized(operationId.isEmpty ? "\(method)_\(path)" : operationId)
                if usedNames.contains(name) {
                    var suffix = 2
                    while usedNames.contains("\(name)_\(suffix)") { suffix += 1 }
                    name = "\(name)_\(suffix)"
                }
                let base: String
                if let explicitBase {
                    base = explicitBase
                } else {
                    base = try serverURL(for: [operation["servers"], pathItem["servers"], root["servers"]], location: location)
                }
                switch try builder.tool(
                    name: name, method: method, path: path, pathItem: pathItem, operation: operation,
                    baseURL: base, location: location)
                {
                case .made(let tool):
                    usedNames.insert(name)
                    result.tools.append(tool)
                case .skipped(let reason):
                    result.skipped.append((operation: name, reason: reason))
                }
            }
        }
        guard !result.tools.isEmpty else {
            let why = result.skipped.first.map { ": \($0.operation) \($0.reason)" } ?? ""
            throw ToolSourceError("the OpenAPI document has no operations mcpd can call\(why)")
        }
        return result
    }

    /// The document as an object, checked to be OpenAPI 3.x.
    private static func documentObject(_ document: JSONValue) throws(ToolSourceError) -> JSONObject {
        var value = document
        if case .string(let text) = document {
            do {
                value = try JSONValue.parse(text)
            } catch {
                throw ToolSourceError("the OpenAPI document is a string but not JSON (YAML is not supported): \(error)")
            }
        }
        guard let root = value.objectValue else {
            throw ToolSourceError("the OpenAPI document must be a JSON object, not \(value.typeName)")
        }
        if root["swagger"] != nil {
            throw ToolSourceError("Swagger 2.0 documents are not supported; convert the document to OpenAPI 3")
        }
        guard let version = root["openapi"]?.stringValue else {
            throw ToolSourceError("the document has no 'openapi' version string; OpenAPI 3.0 or 3.1 is required")
        }
        guard version.hasPrefix("3.") else {
            throw ToolSourceError("OpenAPI version '\(version)' is not supported; 3.0 or 3.1 is required")
        }
        return root
    }

    /// The first server URL among `candidates` (operation, path item, document), its variables
    /// replaced by their defaults.
    private static func serverURL(for candidates: [JSONValue?], location: String) throws(ToolSourceError) -> String {
        for case .array(let servers)? in candidates {
            guard let server = servers.first else { continue }
            guard let template = server["url"]?.stringValue else { throw ToolSourceError("\(location): servers[0].url must be a string") }
            var url = ""
            var rest = Substring(template)
            while let open = rest.firstIndex(of: "{") {
                url += rest[..<open]
                guard let close = rest[open...].firstIndex(of: "}") else { url += rest[open...]; rest = ""; break }
                let variable = String(rest[rest.index(after: open)..<close])
                guard let value = server["variables"]?[variable]?["default"]?.stringValue else {
                    throw ToolSourceError("server URL '\(template)': variable '\(variable)' has no default; pass base_url")
                }
                url += value
                rest = rest[rest.index(after: close)...]
            }
            url += rest
            return try checkedBaseURL(url, origin: "server URL")
        }
        throw ToolSourceError("the OpenAPI document has no servers, so the API's address is unknown; pass base_url")
    }

    /// `url` without a trailing '/', checked to be absolute http(s).
    private static func checkedBaseURL(_ url: String, origin: String) throws(ToolSourceError) -> String {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            if url.hasPrefix("/") {
                throw ToolSourceError("\(origin) '\(url)' is relative; pass an absolute base_url (http or https)")
            }
            throw ToolSourceError("\(origin) '\(url)' must be an absolute http or https URL")
        }
        var trimmed = Substring(url)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard trimmed.count > lower.prefix(while: { $0 != ":" }).count + 3 else {
            throw ToolSourceError("\(origin) '\(url)' has no host")
        }
        return String(trimmed)
    }

    /// The header of the document's first apiKey security scheme sent in a header.
    private static func apiKeyHeader(in root: JSONObject, references: OpenAPIReferences) -> String? {
        guard let schemes = root["components"]?["securitySchemes"]?.objectValue else { return nil }
        for (_, value) in schemes {
            guard let scheme = try? references.resolvedObject(value, location: "securitySchemes") else { continue }
            if scheme["type"]?.stringValue == "apiKey", scheme["in"]?.stringValue == "header",
               let name = scheme["name"]?.stringValue, !name.isEmpty {
                return name
            }
        }
        return nil
    }
}
