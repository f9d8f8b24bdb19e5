import JSON
import Tools

/// The prompts and resources the official MCP conformance suite's server scenarios read
/// (`mcpd --conformance-fixtures`); its tools are in Tools/ConformanceTools.swift and run in workers.
enum ConformanceFixtures {
    static let prompts: [Catalog.Prompt] = [
        Catalog.Prompt(name: "test_simple_prompt", title: "Simple prompt", description: "A simple prompt without arguments",
                       arguments: []) { _ in
            [Catalog.userText("This is a simple prompt for testing.")]
        },
        Catalog.Prompt(name: "test_prompt_with_arguments", title: "Prompt with arguments",
                       description: "A prompt with required arguments",
                       arguments: [("arg1", "First test argument", true), ("arg2", "Second test argument", true)]) { arguments in
            [Catalog.userText("Prompt with arguments: arg1='\(arguments["arg1"] ?? "")', arg2='\(arguments["arg2"] ?? "")'")]
        },
        Catalog.Prompt(name: "test_prompt_with_embedded_resource", title: "Prompt with embedded resource",
                       description: "A prompt that includes an embedded resource",
                       arguments: [("resourceUri", "URI of the resource to embed", true)]) { arguments in
            [["role": "user", "content": ["type": "resource", "resource": [
                "uri": .string(arguments["resourceUri"] ?? "test://example-resource"), "mimeType": "text/plain",
                "text": "Embedded resource content for testing.",
            ]]],
             Catalog.userText("Please process the embedded resource above.")]
        },
        Catalog.Prompt(name: "test_prompt_with_image", title: "Prompt with image", description: "A prompt that includes an image",
                       arguments: []) { _ in
            [["role": "user", "content": ["type": "image", "data": .string(ConformanceTools.pngBase64), "mimeType": "image/png"]],
             Catalog.userText("Please analyze the image above.")]
        },
    ]

    static let resources: [JSONValue] = [
        ["uri": "test://static-text", "name": "Static Text Resource", "description": "A static text resource for testing",
         "mimeType": "text/plain"],
        ["uri": "test://static-binary", "name": "Static Binary Resource", "description": "A static binary resource (image) for testing",
         "mimeType": "image/png"],
        ["uri": "test://watched-resource", "name": "Watched Resource", "description": "A resource that can be subscribed to",
         "mimeType": "text/plain"],
    ]

    static let templates: [JSONValue] = [
        ["uriTemplate": "test://template/{id}/data", "name": "Template Resource",
         "description": "A resource template with a parameter", "mimeType": "application/json"],
    ]

    static func read(_ uri: String) -> [JSONValue]? {
        switch uri {
        case "test://static-text":
            return [["uri": .string(uri), "mimeType": "text/plain", "text": "This is the content of the static text resource."]]
        case "test://static-binary":
            return [["uri": .string(uri), "mimeType": "image/png", "blob": .string(ConformanceTools.pngBase64)]]
        case "test://watched-resource":
            return [["uri": .string(uri), "mimeType": "text/plain", "text": "Watched resource content"]]
        default:
            let prefix = "test://template/", suffix = "/data"
            guard uri.hasPrefix(prefix), uri.hasSuffix(suffix), uri.count > prefix.count + suffix.count else { return nil }
            let id = String(uri.dropFirst(prefix.count).dropLast(suffix.count))
            guard !id.contains("/") else { return nil }
            let body = JSONValue.object(JSONObject([("id", .string(id)), ("templateTest", true), ("data", .string("Data for ID: \(id)"))]))
            return [["uri": .string(uri), "mimeType": "application/json", "text": .string(body.serialized())]]
        }
    }
}
