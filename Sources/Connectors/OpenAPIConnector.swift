// Spec kind "openapi": one OpenAPI operation (ToolSources' OpenAPIImport) called with the caller's
// inputs placed where the operation says: path, query, header or cookie, and the JSON body.
import HTTPClient
import JSON
import Tools

enum OpenAPIConnector {
    private struct InvalidInput: Error {
        let message: String
    }

    static func run(spec: JSONObject, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        guard let method = spec["method"]?.stringValue, let baseURL = spec["base_url"]?.stringValue,
              let pathTemplate = spec["path"]?.stringValue
        else {
            return .failure(kind: "worker_protocol", message: "an openapi tool spec needs method, base_url and path")
        }
        guard let values = input.objectValue else {
            return .failure(kind: "invalid_input", message: "the input must be an object")
        }
        do {
            var request = try build(method: method, baseURL: baseURL, pathTemplate: pathTemplate, spec: spec, values: values)
            if let timeout = spec["timeout_ms"]?.intValue, timeout > 0 { request.timeoutMs = Int(timeout) }
            return UpstreamFetch.perform(request, context: context)
        } catch {
            return .failure(kind: "invalid_input", message: error.message)
        }
    }

    private static func build(method: String, baseURL: String, pathTemplate: String, spec: JSONObject,
                              values: JSONObject) throws(InvalidInput) -> HTTPClientRequest
    {
        var path = pathTemplate
        var query: [String] = []
        var headers: [(String, String)] = [("Accept", "application/json, */*;q=0.5")]
        var cookies: [String] = []

        for entry in spec["parameters"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, let place = entry["in"]?.stringValue else { continue }
            let property = entry["property"]?.stringValue ?? name
            guard let value = values[property], !value.isNull else {
                if entry["required"]?.boolValue == true || place == "path" {
                    throw InvalidInput(message: "input.\(property) is required (\(place) parameter '\(name)')")
                }
                continue
            }
            switch place {
            case "path":
                let text = try texts(of: value, property: property).joined(separator: ",")
                path = path.replacing("{\(name)}", with: PercentEncoding.encode(text))
            case "query":
                let key = PercentEncoding.encode(name)
                let parts = try texts(of: value, property: property)
                if case .array = value, entry["explode"]?.boolValue == false {
                    query.append(key + "=" + parts.map(PercentEncoding.encode).joined(separator: ","))
                } else {
                    // form style, exploded (OpenAPI's default): one key=value per array element
                    query += parts.map { key + "=" + PercentEncoding.encode($0) }
                }
            case "header":
                let text = try texts(of: value, property: property).joined(separator: ",")
                guard !text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                    throw InvalidInput(message: "input.\(property) contains a line break, which a header cannot carry")
                }
                headers.append((name, text))
            case "cookie":
                let text = try texts(of: value, property: property).joined(separator: ",")
                cookies.append(name + "=" + PercentEncoding.encode(text))
            default:
                continue
            }
        }
        if !cookies.isEmpty { headers.append(("Cookie", cookies.joined(separator: "; "))) }

        var body: [UInt8]?
        if let bodySpec = spec["body"]?.objectValue {
            if let value = values["body"], !value.isNull {
                var bytes: [UInt8] = []
                value.write(into: &bytes)
                body = bytes
                headers.append(("Content-Type", bodySpec["content_type"]?.stringValue ?? "application/json"))
            } else if bodySpec["required"]?.boolValue == true {
                throw InvalidInput(message: "input.body is required (the request body)")
            }
        }
        switch UpstreamCredentials.headers(spec["auth"]) {
        case .success(let credentials): headers += credentials
        case .failure(let problem): throw InvalidInput(message: problem.message)
        }

        var url = baseURL + path
        if !query.isEmpty { url += (path.contains("?") ? "&" : "?") + query.joined(separator: "&") }
        return HTTPClientRequest(method: method, url: url, headers: headers, body: body)
    }

    /// A value as parameter text: strings as they are, numbers and booleans as JSON text, an
    /// array element by element, an object as JSON text.
    private static func texts(of value: JSONValue, property: String) throws(InvalidInput) -> [String] {
        switch value {
        case .string(let string): return [string]
        case .int, .double, .bool, .object: return [value.serialized()]
        case .array(let elements):
            var texts: [String] = []
            for element in elements {
                guard case .array = element else {
                    texts.append(element.stringValue ?? element.serialized())
                    continue
                }
                throw InvalidInput(message: "input.\(property) cannot hold nested arrays")
            }
            return texts
        case .null: return []
        }
    }
}
