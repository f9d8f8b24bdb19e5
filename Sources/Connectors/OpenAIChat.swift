import HTTPClient
import JSON
import Tools

/// Spec kind `openai_chat`: a streamed chat completion from an OpenAI-compatible API, each delta
/// passed on as a partial event. Every upstream problem is an `openai_error` (seed 000's
/// OPENAI_ERROR), with the upstream's own message when it gave one.
enum OpenAIChat {
    static let defaultBaseURL = "https://api.openai.com/v1"
    static let defaultModel = "gpt-4o-mini"
    /// Long answers stream for minutes; the call's deadline in the supervisor ends a stuck one sooner.
    static let defaultTimeoutMs = 600_000
    /// Error bodies are small JSON documents; more than this is not worth reading.
    static let maxErrorBody = 64 * 1024

    static func run(spec: JSONObject, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        let body: JSONObject
        switch requestBody(spec: spec, input: input) {
        case .success(let built): body = built
        case .failure(let problem): return .failure(kind: "invalid_input", message: problem.message)
        }
        let model = body["model"]?.stringValue ?? defaultModel
        var baseURL = spec["base_url"]?.stringValue ?? ""
        if baseURL.isEmpty { baseURL = defaultBaseURL }
        while baseURL.hasSuffix("/") { baseURL.removeLast() }

        var headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream")]
        if let key = spec["api_key"]?.stringValue, !key.isEmpty { headers.append(("Authorization", "Bearer \(key)")) }
        var payload: [UInt8] = []
        JSONValue.object(body).write(into: &payload)
        let timeoutMs = spec["timeout_ms"]?.intValue.map { Int(max(1, $0)) } ?? defaultTimeoutMs
        let request = HTTPClientRequest(method: "POST", url: baseURL + "/chat/completions", headers: headers,
                                        body: payload, timeoutMs: timeoutMs)

        do {
            let stream = try HTTPClient.open(request, interrupt: { context.pollCancellation() })
            defer { stream.close() }
            guard (200..<300).contains(stream.status) else {
                return .failure(kind: "openai_error", message: upstreamMessage(stream))
            }
            let contentType = stream.header("Content-Type") ?? ""
            if contentType.lowercased().hasPrefix("text/event-stream") {
                return try streamedAnswer(stream, model: model, context: context)
            }
            return try wholeAnswer(stream, model: model, context: context)
        } catch {
            return failure(error, baseURL: baseURL, timeoutMs: timeoutMs)
        }
    }

    struct InputProblem: Error { let message: String }

    /// The request the API gets: the caller's messages and options, always streamed.
    static func requestBody(spec: JSONObject, input: JSONValue) -> Result<JSONObject, InputProblem> {
        guard let messages = input["messages"]?.arrayValue, !messages.isEmpty else {
            return .failure(InputProblem(message: "input.messages must be a non-empty array of {role, content}"))
        }
        for (index, message) in messages.enumerated() {
            guard let role = message["role"]?.stringValue, !role.isEmpty else {
                return .failure(InputProblem(message: "input.messages[\(index)].role must be a non-empty string"))
            }
            switch message["content"] {
            case .string?, .array?: break
            default: return .failure(InputProblem(message: "input.messages[\(index)].content must be a string or an array of parts"))
            }
        }
        let model = [input["model"]?.stringValue, spec["model"]?.stringValue].compactMap { $0 }.first { !$0.isEmpty } ?? defaultModel
        var body = JSONObject([("model", .string(model)), ("messages", .array(messages)), ("stream", true)])
        if let maxTokens = input["max_tokens"], !maxTokens.isNull {
            guard let count = maxTokens.intValue, count > 0 else {
                return .failure(InputProblem(message: "input.max_tokens must be a positive integer"))
            }
            body["max_tokens"] = .int(count)
        }
        if let temperature = input["temperature"], !temperature.isNull {
            guard let value = temperature.doubleValue, value >= 0, value <= 2 else {
                return .failure(InputProblem(message: "input.temperature must be a number from 0 to 2"))
            }
            body["temperature"] = temperature
        }
        return .success(body)
    }

    /// Reads `data:` events until [DONE], passing each content delta on as it arrives.
    private static func streamedAnswer(_ stream: HTTPClientStream, model: String, context: any ToolContext) throws(HTTPClientError) -> ToolOutcome {
        var parser = SSEParser()
        var text = ""
        var finishReason: String?
        var reportedModel: String?
        reading: while let chunk = try stream.readChunk() {
            for event in parser.feed(chunk) {
                if event.data == "[DONE]" { break reading }
                // Proxies interleave keep-alive events that are not JSON; they carry nothing.
                guard let message = try? JSONValue.parse(event.data) else { continue }
                if let error = message["error"], !error.isNull {
                    return .failure(kind: "openai_error", message: error["message"]?.stringValue ?? error.serialized())
                }
                reportedModel = message["model"]?.stringValue ?? reportedModel
                guard let choice = message["choices"]?.arrayValue?.first else { continue }
                if let delta = choice["delta"]?["content"]?.stringValue, !delta.isEmpty {
                    text += delta
                    context.emitPartial(JSONObject([("text", .string(delta))]))
                }
                if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
            }
        }
        return .result(answer(text: text, model: reportedModel ?? model, finishReason: finishReason))
    }

    /// Some compatible servers ignore `stream` and answer with one JSON completion.
    private static func wholeAnswer(_ stream: HTTPClientStream, model: String, context: any ToolContext) throws(HTTPClientError) -> ToolOutcome {
        let body = try stream.readAll(maxBody: 16 << 20)
        guard let completion = try? JSONValue.parse(body),
              let choice = completion["choices"]?.arrayValue?.first else {
            return .failure(kind: "openai_error", message: "the API answered with neither an event stream nor a chat completion")
        }
        let text = choice["message"]?["content"]?.stringValue ?? ""
        if !text.isEmpty { context.emitPartial(JSONObject([("text", .string(text))])) }
        return .result(answer(text: text, model: completion["model"]?.stringValue ?? model,
                              finishReason: choice["finish_reason"]?.stringValue))
    }

    private static func answer(text: String, model: String, finishReason: String?) -> JSONObject {
        var result = JSONObject([("text", .string(text)), ("model", .string(model))])
        if let finishReason { result["finish_reason"] = .string(finishReason) }
        return result
    }

    /// The API's `error.message` when the body has one, else the status line.
    private static func upstreamMessage(_ stream: HTTPClientStream) -> String {
        let statusLine = stream.reason.isEmpty ? "HTTP \(stream.status)" : "HTTP \(stream.status) \(stream.reason)"
        guard let body = try? stream.readAll(maxBody: maxErrorBody), let document = try? JSONValue.parse(body) else {
            return statusLine
        }
        if let message = document["error"]?["message"]?.stringValue, !message.isEmpty { return message }
        if let message = document["error"]?.stringValue, !message.isEmpty { return message }  // some proxies
        return statusLine
    }

    private static func failure(_ error: HTTPClientError, baseURL: String, timeoutMs: Int) -> ToolOutcome {
        switch error {
        case .interrupted:
            return .cancelled
        case .timedOut:
            return .failure(kind: "openai_error", message: "the OpenAI API at \(baseURL) did not finish within \(timeoutMs / 1000) s")
        case .invalidURL, .unsupportedScheme:
            return .failure(kind: "openai_error", message: "cannot use the OpenAI base URL \(baseURL): \(error)")
        default:
            return .failure(kind: "openai_error", message: "the OpenAI API at \(baseURL) failed: \(error)")
        }
    }
}
