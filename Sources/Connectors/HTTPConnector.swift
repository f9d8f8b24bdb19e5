// Spec kind "http": the request a curl command line described (ToolSources' CurlTool), with the
// caller's values in its `{{name}}` placeholders.
import HTTPClient
import JSON
import Tools

enum HTTPConnector {
    static func run(spec: JSONObject, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        guard let method = spec["method"]?.stringValue, let urlTemplate = spec["url"]?.stringValue else {
            return .failure(kind: "worker_protocol", message: "an http tool spec needs a method and a url")
        }
        let values = input.objectValue ?? JSONObject()
        var request = HTTPClientRequest(method: method, url: "")
        do {
            request.url = try TemplateFilling.fill(urlTemplate, values: values) { value, _ in PercentEncoding.encode(value) }
            for pair in spec["headers"]?.arrayValue ?? [] {
                guard let name = pair.arrayValue?.first?.stringValue, let template = pair.arrayValue?.dropFirst().first?.stringValue else {
                    return .failure(kind: "worker_protocol", message: "http tool headers must be [name, value] pairs")
                }
                let value = try TemplateFilling.fill(template, values: values) { value, _ in value }
                guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                    return .failure(kind: "invalid_input", message: "a value for the \(name) header contains a line break")
                }
                request.headers.append((name, value))
            }
            if let bodyTemplate = spec["body"]?.stringValue {
                let isJSON = TemplateFilling.looksLikeJSON(bodyTemplate)
                let body = try TemplateFilling.fill(bodyTemplate, values: values, encode: { value, insideString in
                    insideString ? TemplateFilling.jsonEscaped(value) : value
                }, trackJSONStrings: isJSON)
                request.body = Array(body.utf8)
            }
        } catch {
            return .failure(kind: "invalid_input", message: "input.\(error.name) is required (a string)")
        }
        // curl always says it takes anything; some servers answer differently without an Accept.
        if !request.headers.contains(where: { $0.0.lowercased() == "accept" }) {
            request.headers.insert(("Accept", "*/*"), at: 0)
        }
        if let timeout = spec["timeout_ms"]?.intValue, timeout > 0 { request.timeoutMs = Int(timeout) }
        if spec["insecure"]?.boolValue == true { request.verifyCertificates = false }
        return UpstreamFetch.perform(request, followRedirects: spec["follow_redirects"]?.boolValue == true, context: context)
    }
}
