// read_file, write_file and list_directory (seed 004's filesystem server), served when mcpd runs
// with --files-root. The worker confines every path to the root (Connectors' FileConnector).
import JSON
import Tools

public enum FileTools {
    /// The three file tools over `root` (an absolute directory). Spec: {"kind": "file",
    /// "operation": <tool name>, "root": root}.
    public static func definitions(root: String) -> [SourcedTool] {
        let path: JSONValue = [
            "type": "string", "minLength": 1,
            "description": "A path relative to the file root; it may not lead outside it.",
        ]
        let readFile = ToolDefinition(
            name: "read_file",
            description: "Reads a UTF-8 text file under the file root (at most 4 MiB) and returns its contents.",
            inputSchema: ["type": "object", "properties": ["path": path], "required": ["path"], "additionalProperties": false],
            title: "Read file",
            annotations: ["readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false])
        let writeFile = ToolDefinition(
            name: "write_file",
            description: "Writes text to a file under the file root, creating it or replacing its contents. The directory must exist.",
            inputSchema: [
                "type": "object",
                "properties": ["path": path, "content": ["type": "string", "description": "The complete new contents of the file."]],
                "required": ["path", "content"],
                "additionalProperties": false,
            ],
            title: "Write file",
            annotations: ["readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false])
        let listDirectory = ToolDefinition(
            name: "list_directory",
            description: "Lists a directory under the file root, sorted by name: each entry marked [FILE] or [DIR].",
            inputSchema: [
                "type": "object",
                "properties": ["path": [
                    "type": "string", "default": ".",
                    "description": "A directory relative to the file root; \".\" (the default) is the root itself.",
                ]],
                "additionalProperties": false,
            ],
            title: "List directory",
            annotations: ["readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false])
        return [readFile, writeFile, listDirectory].map { definition in
            (definition, spec: ["kind": "file", "operation": .string(definition.name), "root": .string(root)])
        }
    }
}
