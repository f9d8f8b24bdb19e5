// One OpenAPI operation made into one tool: its parameters and JSON body become the input schema,
// and the spec tells the worker where each input goes in the request.
import JSON
import Tools

enum OperationTool {
    case made(SourcedTool)
    case skipped(reason: String)
}

struct OperationToolBuilder {
    let references: OpenAPIReferences
    let auth: JSONObject?

    /// A parameter after merging path-level and operation-level lists.
    private struct Parameter {
        let name: String
        let location: String
        let required: Bool
        let schema: JSONValue
        let explode: Bool?
    }

    /// Headers that OpenAPI says to ignore as parameters: the request's framing and credentials
    /// are not the caller's to set.
    private static let ignoredHeaders: Set<String> = ["accept", "content-type", "authorization"]

    func tool(name: String, method: String, path: String, pathItem: JSONObject, operation: JSONObject,
              baseURL: String, location: String) throws(ToolSourceError) -> OperationTool
    {
        var budget = OpenAPIReferences.nodeBudget
        let parameters = try mergedParameters(path: path, pathItem: pathItem, operation: operation,
                                              location: location, budget: &budget)
        let body = try requestBody(operation["requestBody"], location: "\(location).requestBody", budget: &budget)
        if case .unusable(let reason) = body { return .skipped(reason: reason) }

        var properties = JSONObject()
        var required: [JSONValue] = []
        var specParameters: [JSONValue] = []
        var taken: Set<String> = []
        if case .json = body { taken.insert("body") }
        for parameter in parameters {
            let property = Self.freeName(for: parameter, taken: taken)
            taken.insert(property)
            properties[property] = parameter.schema
            if parameter.required { required.append(.string(property)) }
            var entry: JSONObject = [
                "name": .string(parameter.name), "in": .string(parameter.location), "required": .bool(parameter.required),
            ]
            if property != parameter.name { entry["property"] = .string(property) }
            if parameter.explode == false { entry["explode"] = false }
            specParameters.append(.object(entry))
        }
        var specBody: JSONValue = .null
        if case .json(let contentType, let schema, let isRequired) = body {
            properties["body"] = schema
            if isRequired { required.append("body") }
            specBody = ["content_type": .string(contentType), "required": .bool(isRequired)]
        }

        let upperMethod = method.uppercased()
        let summary = Self.text(operation["summary"])
        let details = Self.text(operation["description"])
        var description = [summary, details].compactMap { $0 }.joined(separator: "\n\n")
        if description.isEmpty { description = "\(upperMethod) \(path)" }
        if operation["deprecated"]?.boolValue == true { description = "(Deprecated) " + description }

        let definition = ToolDefinition(
            name: name,
            description: description,
            inputSchema: [
                "type": "object",
                "properties": .object(properties),
                "required": .array(required),
                "additionalProperties": false,
            ],
            title: summary.flatMap { $0.count <= 120 ? $0 : nil },
            annotations: ToolNaming.annotations(forMethod: upperMethod))
        let spec: JSONObject = [
            "kind": "openapi",
            "method": .string(upperMethod),
            "base_url": .string(baseURL),
            "path": .string(path),
            "parameters": .array(specParameters),
            "body": specBody,
            "auth": auth.map { .object($0) } ?? .null,
        ]
        return .made((definition, spec: spec))
    }

    /// Path-level parameters overridden by operation-level ones with the same name and location,
    /// minus ignored headers, plus any `{name}` in the path that no parameter describes.
    private func mergedParameters(path: String, pathItem: JSONObject, operation: JSONObject, location: String,
                                  budget: inout Int) throws(ToolSourceError) -> [Parameter]
    {
        var merged: [Parameter] = []
        for (list, listLocation) in [(pathItem["parameters"], "paths.\(path).parameters"), (operation["parameters"], "\(location).parameters")] {
            guard let list, !list.isNull else { continue }
            guard let entries = list.arrayValue else { throw ToolSourceError("\(listLocation) must be an array") }
            for (index, entry) in entries.enumerated() {
                guard let parameter = try parameter(entry, location: "\(listLocation)[\(index)]", budget: &budget) else { continue }
                if let existing = merged.firstIndex(where: { $0.name == parameter.name && $0.location == parameter.location }) {
                    merged[existing] = parameter
                } else {
                    merged.append(parameter)
                }
            }
        }
        // A template variable nobody declared still has to be filled in: take it as a string.
        for variable in Self.templateVariables(in: path)
        where !merged.contains(where: { $0.location == "path" && $0.name == variable }) {
            merged.append(Parameter(name: variable, location: "path", required: true, schema: ["type": "string"], explode: nil))
        }
        return merged
    }

    private func parameter(_ value: JSONValue, location: String, budget: inout Int) throws(ToolSourceError) -> Parameter? {
        let object = try references.resolvedObject(value, location: location)
        guard let name = object["name"]?.stringValue, !name.isEmpty else {
            throw ToolSourceError("\(location): a parameter needs a name")
        }
        guard let place = object["in"]?.stringValue, ["path", "query", "header", "cookie"].contains(place) else {
            throw ToolSourceError("\(location): parameter '\(name)' needs 'in': path, query, header or cookie")
        }
        if place == "header" && Self.ignoredHeaders.contains(name.lowercased()) { return nil }

        // A parameter has a schema, or a `content` map with exactly one media type holding it.
        var rawSchema = object["schema"]
        if rawSchema == nil, let content = object["content"]?.objectValue, let first = content.first(where: { _ in true }) {
            rawSchema = first.value["schema"]
        }
        var schema = rawSchema.map { references.inlinedSchema($0, budget: &budget) } ?? ["type": "string"]
        if case .object(var schemaObject) = schema, let description = Self.text(object["description"]) {
            schemaObject["description"] = .string(description)
            schema = .object(schemaObject)
        }
        return Parameter(
            name: name, location: place,
            required: place == "path" || object["required"]?.boolValue == true,
            schema: schema, explode: object["explode"]?.boolValue)
    }

    private enum Body {
        case none
        case json(contentType: String, schema: JSONValue, required: Bool)
        case unusable(reason: String)
    }

    /// The request body, when it can be sent as JSON.
    private func requestBody(_ value: JSONValue?, location: String, budget: inout Int) throws(ToolSourceError) -> Body {
        guard let value, !value.isNull else { return .none }
        let object = try references.resolvedObject(value, location: location)
        let isRequired = object["required"]?.boolValue == true
        guard let content = object["content"]?.objectValue, !content.isEmpty else { return .none }
        let types = content.keys
        guard let chosen = types.first(where: { Self.mediaType($0) == "application/json" })
            ?? types.first(where: { Self.mediaType($0).hasSuffix("+json") })
            ?? types.first(where: { Self.mediaType($0) == "*/*" || Self.mediaType($0) == "application/*" })
        else {
            let listed = types.joined(separator: ", ")
            return isRequired
                ? .unusable(reason: "needs a \(listed) request body; mcpd sends JSON bodies only")
                : .none
        }
        var schema: JSONValue = references.inlinedSchema(content[chosen]?["schema"] ?? [:], budget: &budget)
        if case .object(var schemaObject) = schema {
            Self.dropReadOnlyRequirements(&schemaObject)
            if schemaObject["description"] == nil, let description = Self.text(object["description"]) {
                schemaObject["description"] = .string(description)
            }
            schema = .object(schemaObject)
        }
        let contentType = Self.mediaType(chosen).contains("*") ? "application/json" : chosen
        return .json(contentType: contentType, schema: schema, required: isRequired)
    }

    /// Server-set (readOnly) properties are required in responses, never in requests.
    private static func dropReadOnlyRequirements(_ schema: inout JSONObject) {
        guard case .array(let names)? = schema["required"], let properties = schema["properties"]?.objectValue else { return }
        let kept = names.filter { name in
            guard let key = name.stringValue else { return true }
            return properties[key]?["readOnly"]?.boolValue != true
        }
        schema["required"] = .array(kept)
    }

    /// "application/json; charset=utf-8" → "application/json".
    private static func mediaType(_ contentType: String) -> String {
        String(contentType.prefix { $0 != ";" }).lowercased().filter { $0 != " " }
    }

    /// The input name for `parameter`: its own name unless taken, then `<name>_<in>`, then numbered.
    private static func freeName(for parameter: Parameter, taken: Set<String>) -> String {
        if !taken.contains(parameter.name) { return parameter.name }
        let qualified = "\(parameter.name)_\(parameter.location)"
        if !taken.contains(qualified) { return qualified }
        var counter = 2
        while taken.contains("\(qualified)_\(counter)") { counter += 1 }
        return "\(qualified)_\(counter)"
    }

    /// "/pets/{petId}/toys/{toyId}" → ["petId", "toyId"].
    static func templateVariables(in path: String) -> [String] {
        var names: [String] = []
        var rest = Substring(path)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            let name = String(rest[rest.index(after: open)..<close])
            if !name.isEmpty && !names.contains(name) { names.append(name) }
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    private static func text(_ value: JSONValue?) -> String? {
        guard let string = value?.stringValue else { return nil }
        let trimmed = string.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}
