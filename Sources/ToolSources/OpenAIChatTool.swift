// openai_chat (seed 000): a chat completion from an OpenAI-compatible API, streamed as partial events.
import JSON
import Tools

public enum OpenAIChatTool {
    public static let defaultBaseURL = "https://api.openai.com/v1"
    public static let defaultModel = "gpt-4o-mini"

    /// The openai_chat tool. nil or empty arguments take the defaults (the API key may stay empty
    /// for local servers that need none). Spec: {"kind": "openai_chat", "base_url", "api_key",
    /// "model"}; the API key is a secret.
    public static func definition(baseURL: String? = nil, apiKey: String? = nil, model: String? = nil) -> SourcedTool {
        var base = baseURL.flatMap { $0.isEmpty ? nil : $0 } ?? defaultBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        let chosenModel = model.flatMap { $0.isEmpty ? nil : $0 } ?? defaultModel
        let definition = ToolDefinition(
            name: "openai_chat",
            description: "Asks an OpenAI-compatible chat model (default \(chosenModel)) and streams its answer as partial events.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "messages": [
                        "type": "array",
                        "description": "The conversation so far, oldest first.",
                        "items": [
                            "type": "object",
                            "properties": [
                                "role": ["type": "string", "enum": ["system", "user", "assistant", "tool"]],
                                "content": ["type": "string"],
                            ],
                            "required": ["role", "content"],
                        ],
                    ],
                    "model": ["type": "string", "description": "The model to ask instead of the configured one."],
                    "max_tokens": ["type": "integer", "minimum": 1, "description": "The most tokens the answer may have."],
                    "temperature": ["type": "number", "description": "Sampling temperature."],
                ],
                "required": ["messages"],
                "additionalProperties": false,
            ],
            title: "OpenAI chat",
            annotations: ["readOnlyHint": true, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true])
        let spec: JSONObject = [
            "kind": "openai_chat",
            "base_url": .string(base),
            "api_key": .string(apiKey ?? ""),
            "model": .string(chosenModel),
        ]
        return (definition, spec: spec)
    }
}
