import JSON
import Testing
import Tools
@testable import ToolSources

// MARK: Shell words

@Test func shellWordsFollowQuotingRules() throws {
    let words = try ShellWords.split(#"curl 'a b' "c \"d\" \$e \x" f\ g h\"#)
    #expect(words == ["curl", "a b", #"c "d" $e \x"#, "f g", "h"])
    #expect(try ShellWords.split("curl \\\n  -s \\\r\n  x") == ["curl", "-s", "x"])
    #expect(try ShellWords.split("curl '' x") == ["curl", "", "x"])
    #expect(try ShellWords.split(#"curl $'line\none\t\x41\u00e9\'q'"#) == ["curl", "line\none\tAé'q"])
    #expect(try ShellWords.split("curl x # a comment | here\n-s") == ["curl", "x", "-s"])
    #expect(try ShellWords.split(#"curl "multi"'part'word"#) == ["curl", "multipartword"])
}

@Test func shellWordsRefuseWhatOnlyAShellWouldUnderstand() {
    #expect(throws: ToolSourceError.self) { try ShellWords.split("curl 'open") }
    #expect(throws: ToolSourceError.self) { try ShellWords.split(#"curl "open"#) }
    let error = #expect(throws: ToolSourceError.self) { try ShellWords.split("curl http://x?a=1&b=2") }
    #expect(error?.message.contains("'&'") == true)
    #expect(throws: ToolSourceError.self) { try ShellWords.split("curl http://x | jq .") }
    #expect(throws: ToolSourceError.self) { try ShellWords.split("curl `whoami`") }
}

// MARK: curl options

@Test func curlGetWithHeadersAndFlags() throws {
    let command = try CurlCommand.parse("""
        curl -sSL --compressed -H 'Accept: application/json' \\
          -H "X-Trace:  {{trace}}  " 'https://api.example.com/v1/items?q={{query}}&limit=5'
        """)
    #expect(command.method == "GET")
    #expect(command.url == "https://api.example.com/v1/items?q={{query}}&limit=5")
    #expect(command.headers.map { "\($0.name)=\($0.value)" } == ["Accept=application/json", "X-Trace={{trace}}"])
    #expect(command.body == nil)
    #expect(command.followRedirects)
    #expect(command.variables == ["query", "trace"])
}

@Test func curlDataImpliesPostAndJoinsParts() throws {
    let command = try CurlCommand.parse("curl -d a=1 --data-raw '@b={{b}}' --data-binary c=3 example.com/form")
    #expect(command.method == "POST")
    #expect(command.url == "http://example.com/form")
    #expect(command.body == "a=1&@b={{b}}&c=3")
    #expect(command.headers.map(\.name) == ["Content-Type"])
    #expect(command.headers.first?.value == "application/x-www-form-urlencoded")
    #expect(command.variables == ["b"])
}

@Test func curlExplicitMethodAndAttachedValues() throws {
    let command = try CurlCommand.parse(#"curl -XPUT -H'Content-Type: text/plain' -d 'hi' http://h/x"#)
    #expect(command.method == "PUT")
    #expect(command.headers.map { "\($0.name)=\($0.value)" } == ["Content-Type=text/plain"])
}

@Test func curlJSONSetsContentTypeAndAccept() throws {
    let command = try CurlCommand.parse(#"curl --json '{"name": "{{name}}", "n": {{count}}}' https://h/api"#)
    #expect(command.method == "POST")
    #expect(command.body == #"{"name": "{{name}}", "n": {{count}}}"#)
    #expect(command.headers.map { "\($0.name)=\($0.value)" } == ["Content-Type=application/json", "Accept=application/json"])
    #expect(command.variables == ["name", "count"])
}

@Test func curlUserBecomesBasicAuthorization() throws {
    let command = try CurlCommand.parse("curl -u alice:s3cret https://h/")
    #expect(command.headers.map { "\($0.name)=\($0.value)" } == ["Authorization=Basic YWxpY2U6czNjcmV0"])
    // An -H header of the same name replaces curl's own.
    let replaced = try CurlCommand.parse("curl -u a:b -H 'Authorization: Bearer t' https://h/")
    #expect(replaced.headers.map { "\($0.name)=\($0.value)" } == ["Authorization=Bearer t"])
    #expect(throws: ToolSourceError.self) { try CurlCommand.parse("curl -u alice https://h/") }
    // Credentials in the URL become the same header and leave the URL.
    let inURL = try CurlCommand.parse("curl 'https://alice:s3cret@h/x?y=1'")
    #expect(inURL.url == "https://h/x?y=1")
    #expect(inURL.headers.map { "\($0.name)=\($0.value)" } == ["Authorization=Basic YWxpY2U6czNjcmV0"])
}

@Test func curlGetMovesDataToTheQuery() throws {
    let command = try CurlCommand.parse("curl -G -d q={{q}} -d page=2 'https://h/search?lang=en'")
    #expect(command.method == "GET")
    #expect(command.url == "https://h/search?lang=en&q={{q}}&page=2")
    #expect(command.body == nil)
    #expect(command.headers.isEmpty)
    let head = try CurlCommand.parse("curl -I https://h/")
    #expect(head.method == "HEAD")
}

@Test func curlOtherHeaderOptions() throws {
    let command = try CurlCommand.parse("curl -A agent/1 -e 'https://ref/;auto' -b 'a=1; b=2' -m 2.5 -k --oauth2-bearer tok https://h/")
    #expect(command.headers.map { "\($0.name)=\($0.value)" }
        == ["User-Agent=agent/1", "Referer=https://ref/", "Cookie=a=1; b=2", "Authorization=Bearer tok"])
    #expect(command.timeoutMs == 2500)
    #expect(command.insecure)
    // "Name:" drops curl's own header; "Name;" sends it empty.
    let dropped = try CurlCommand.parse("curl -d x -H 'Content-Type:' -H 'X-Empty;' https://h/")
    #expect(dropped.headers.map { "\($0.name)=\($0.value)" } == ["X-Empty="])
}

@Test func curlRefusesWhatItCannotSend() {
    func message(_ line: String) -> String {
        do {
            _ = try CurlCommand.parse(line)
            return "parsed"
        } catch {
            return error.message
        }
    }
    #expect(message("curl --frobnicate https://h/").contains("'--frobnicate'"))
    #expect(message("curl -Z https://h/").contains("'-Z'"))
    #expect(message("curl -d @body.json https://h/").contains("@body.json"))
    #expect(message("curl --json @x.json https://h/").contains("reads a file"))
    #expect(message("curl -F a=b https://h/").contains("'-F'"))
    #expect(message("curl --data-urlencode a=b https://h/").contains("--data-urlencode"))
    #expect(message("curl -H @headers.txt https://h/").contains("file"))
    #expect(message("curl -s").contains("no URL"))
    #expect(message("curl https://a/ https://b/").contains("more than one URL"))
    #expect(message("curl ftp://h/x").contains("'ftp'"))
    #expect(message("wget https://h/").contains("'curl'"))
    #expect(message("curl -H 'NoColon' https://h/").contains("Name: value"))
    #expect(message("curl -X").contains("needs a value"))
    #expect(message("curl -H '{{n}}: v' https://h/").contains("header name"))
}

// MARK: curl tools

@Test func curlToolSchemaAndSpec() throws {
    let (definition, spec) = try CurlTool.make(
        name: "weather", description: "Get weather information",
        commandLine: "curl 'https://api.openweathermap.org/data/2.5/weather?q={{city}}&appid=KEY' -H 'X-Units: {{units}}' -m 3")
    #expect(definition.name == "weather")
    #expect(definition.description == "Get weather information")
    #expect(definition.inputSchema["required"] == ["city", "units"])
    #expect(definition.inputSchema["additionalProperties"] == false)
    #expect(definition.inputSchema["properties"]?["city"]?["type"] == "string")
    #expect(definition.inputSchema["properties"]?.objectValue?.keys == ["city", "units"])
    #expect(definition.annotations?["readOnlyHint"] == true)
    #expect(spec["kind"] == "http")
    #expect(spec["method"] == "GET")
    #expect(spec["url"] == "https://api.openweathermap.org/data/2.5/weather?q={{city}}&appid=KEY")
    #expect(spec["headers"] == [["X-Units", "{{units}}"]])
    #expect(spec["body"] == .null)
    #expect(spec["timeout_ms"] == 3000)
    // Without placeholders the tool takes no input at all; the default description hides the query.
    let (plain, _) = try CurlTool.make(name: "ping", description: "", commandLine: "curl -X DELETE 'https://h/x?key=secret'")
    #expect(plain.inputSchema["required"] == [])
    #expect(plain.description == "DELETE https://h/x")
    #expect(plain.annotations?["destructiveHint"] == true)
    #expect(throws: ToolSourceError.self) { try CurlTool.make(name: "bad name", description: "", commandLine: "curl h") }
}

// MARK: OpenAPI

private let petstore: JSONValue = [
    "openapi": "3.0.3",
    "info": ["title": "Petstore", "version": "1.0.0"],
    "servers": [["url": "https://{region}.pets.example/{version}", "variables": [
        "region": ["default": "eu"], "version": ["default": "v2", "enum": ["v1", "v2"]],
    ]]],
    "paths": [
        "/pets": [
            "get": [
                "operationId": "listPets",
                "summary": "List all pets",
                "parameters": [
                    ["name": "limit", "in": "query", "schema": ["type": "integer", "maximum": 100, "exclusiveMaximum": true]],
                    ["name": "tags", "in": "query", "explode": false, "schema": ["type": "array", "items": ["type": "string"]]],
                    ["$ref": "#/components/parameters/TraceHeader"],
                    ["name": "Accept", "in": "header", "schema": ["type": "string"]],
                ],
            ],
            "post": [
                "operationId": "createPet",
                "description": "Adds a pet.",
                "requestBody": ["$ref": "#/components/requestBodies/NewPet"],
            ],
        ],
        "/pets/{petId}": [
            "parameters": [
                ["name": "petId", "in": "path", "required": true, "description": "The pet's id", "schema": ["type": "string"]],
                ["name": "verbose", "in": "query", "schema": ["type": "boolean"]],
            ],
            "get": [
                "summary": "Info for a pet",
                "parameters": [
                    ["name": "verbose", "in": "query", "required": true, "schema": ["type": "boolean"]],
                    ["name": "petId", "in": "header", "schema": ["type": "string"]],
                ],
            ],
            "delete": ["operationId": "deletePet", "servers": [["url": "https://admin.pets.example/"]]],
        ],
        "/upload": [
            "post": [
                "operationId": "upload",
                "requestBody": ["required": true, "content": ["multipart/form-data": ["schema": ["type": "object"]]]],
            ],
        ],
    ],
    "components": [
        "parameters": [
            "TraceHeader": ["name": "X-Trace", "in": "header", "schema": ["type": "string"]],
        ],
        "requestBodies": [
            "NewPet": ["required": true, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Pet"]]]],
        ],
        "schemas": [
            "Pet": [
                "type": "object",
                "required": ["id", "name"],
                "properties": [
                    "id": ["type": "integer", "readOnly": true],
                    "name": ["type": "string"],
                    "tag": ["type": "string", "nullable": true],
                    "parent": ["$ref": "#/components/schemas/Pet"],
                ],
            ],
        ],
        "securitySchemes": ["key": ["type": "apiKey", "in": "header", "name": "X-Pet-Key"]],
    ],
]

@Test func openAPIImportsEveryCallableOperation() throws {
    let result = try OpenAPIImport.importDocument(document: petstore, authConfig: nil, baseURL: nil)
    #expect(result.tools.map { $0.0.name } == ["listPets", "createPet", "get_pets_petId", "deletePet"])
    #expect(result.skipped.map { $0.operation } == ["upload"])
    #expect(result.skipped.first?.reason.contains("multipart/form-data") == true)
}

@Test func openAPIParametersBecomeInputs() throws {
    let tools = try OpenAPIImport.tools(document: petstore, authConfig: nil, baseURL: nil)
    let (list, listSpec) = tools[0]
    #expect(list.description == "List all pets")
    #expect(list.title == "List all pets")
    #expect(list.inputSchema["properties"]?.objectValue?.keys == ["limit", "tags", "X-Trace"])
    // OpenAPI 3.0's boolean exclusiveMaximum becomes JSON Schema's numeric one.
    #expect(list.inputSchema["properties"]?["limit"] == ["type": "integer", "exclusiveMaximum": 100])
    #expect(list.inputSchema["required"] == [])
    #expect(listSpec["base_url"] == "https://eu.pets.example/v2")
    #expect(listSpec["method"] == "GET")
    #expect(listSpec["path"] == "/pets")
    #expect(listSpec["parameters"] == [
        ["name": "limit", "in": "query", "required": false],
        ["name": "tags", "in": "query", "required": false, "explode": false],
        ["name": "X-Trace", "in": "header", "required": false],
    ])
    #expect(listSpec["body"] == .null)
    #expect(listSpec["auth"] == .null)

    // Path-level and operation-level parameters merge; the operation's wins; a name clash is renamed.
    let (get, getSpec) = tools[2]
    #expect(get.inputSchema["properties"]?.objectValue?.keys == ["petId", "verbose", "petId_header"])
    #expect(get.inputSchema["properties"]?["petId"]?["description"] == "The pet's id")
    #expect(get.inputSchema["required"] == ["petId", "verbose"])
    #expect(getSpec["parameters"]?.arrayValue?.last == ["name": "petId", "in": "header", "required": false, "property": "petId_header"])
    #expect(get.description == "Info for a pet")

    // An operation's own servers win over the document's.
    #expect(tools[3].spec["base_url"] == "https://admin.pets.example")
    #expect(tools[3].0.annotations?["destructiveHint"] == true)
}

@Test func openAPIRequestBodyResolvesReferencesAndStopsCycles() throws {
    let tools = try OpenAPIImport.tools(document: petstore, authConfig: nil, baseURL: "http://localhost:8080/api/")
    let (create, spec) = tools[1]
    #expect(create.description == "Adds a pet.")
    #expect(create.inputSchema["required"] == ["body"])
    let body = create.inputSchema["properties"]?["body"]
    #expect(body?["type"] == "object")
    // readOnly members are not required in a request; nullable becomes a null type.
    #expect(body?["required"] == ["name"])
    #expect(body?["properties"]?["tag"]?["type"] == ["string", "null"])
    // A schema that refers to itself is cut off where the cycle closes: anything goes there.
    #expect(body?["properties"]?["parent"] == [:])
    #expect(spec["body"] == ["content_type": "application/json", "required": true])
    #expect(spec["base_url"] == "http://localhost:8080/api")
}

@Test func openAPIAuthConfigBecomesTheSpecsAuth() throws {
    let bearer = try OpenAPIImport.tools(document: petstore, authConfig: ["auth_strategy": "bearer", "auth": ["token": "t0k"]], baseURL: nil)
    #expect(bearer[0].spec["auth"] == ["strategy": "bearer", "token": "t0k"])
    // An api_key without a header takes the document's apiKey scheme header.
    let key = try OpenAPIImport.tools(document: petstore, authConfig: ["auth_strategy": "api_key", "auth": ["key": "k"]], baseURL: nil)
    #expect(key[0].spec["auth"] == ["strategy": "api_key", "header": "X-Pet-Key", "key": "k"])
    let basic = try UpstreamAuth.authObject(from: ["auth_strategy": "basic", "auth": ["username": "u", "password": "p"]])
    #expect(basic == ["strategy": "basic", "username": "u", "password": "p"])
    #expect(try UpstreamAuth.authObject(from: ["auth_strategy": "none"]) == nil)
    #expect(try UpstreamAuth.authObject(from: ["auth_strategy": "api_key", "auth": ["key": "k"]]) == ["strategy": "api_key", "header": "X-API-Key", "key": "k"])
    #expect(throws: ToolSourceError.self) { try UpstreamAuth.authObject(from: ["auth_strategy": "bearer", "auth": [:]]) }
    #expect(throws: ToolSourceError.self) { try UpstreamAuth.authObject(from: ["auth_strategy": "oauth2"]) }
}

@Test func openAPIRefusesDocumentsItCannotUse() {
    func message(_ document: JSONValue, baseURL: String? = nil) -> String {
        do {
            _ = try OpenAPIImport.tools(document: document, authConfig: nil, baseURL: baseURL)
            return "imported"
        } catch {
            return error.message
        }
    }
    #expect(message([1, 2]).contains("JSON object"))
    #expect(message(["swagger": "2.0", "paths": [:]]).contains("Swagger 2.0"))
    #expect(message(["openapi": "2.5", "paths": [:]]).contains("3.0 or 3.1"))
    #expect(message(["info": [:]]).contains("'openapi'"))
    // Seed 001's example document has no paths.
    #expect(message(["openapi": "3.0.1", "info": ["title": "Example API", "version": "1.0.0"]]).contains("no paths"))
    let noServers: JSONValue = ["openapi": "3.1.0", "paths": ["/x": ["get": ["operationId": "x"]]]]
    #expect(message(noServers).contains("base_url"))
    #expect(message(noServers, baseURL: "/relative").contains("relative"))
    #expect(message(noServers, baseURL: "http://h") == "imported")
    let dangling: JSONValue = ["openapi": "3.1.0", "paths": ["/x": ["get": ["parameters": [["$ref": "#/nowhere"]]]]]]
    #expect(message(dangling, baseURL: "http://h").contains("#/nowhere"))
    #expect(message(.string("openapi: 3.0.0")).contains("YAML"))
}

@Test func openAPIGeneratesNamesAndAcceptsAJSONString() throws {
    let document = #"{"openapi": "3.1.0", "servers": [{"url": "http://h"}], "paths": {"/a/{id}/b-c": {"get": {}, "post": {"operationId": "do it!"}}, "/dup": {"get": {"operationId": "do_it"}}}}"#
    let tools = try OpenAPIImport.tools(document: .string(document), authConfig: nil, baseURL: nil)
    #expect(tools.map { $0.0.name } == ["get_a_id_b-c", "do_it", "do_it_2"])
    // A template variable nobody declared still becomes a required path input.
    #expect(tools[0].0.inputSchema["required"] == ["id"])
}

// MARK: Built-in sources

@Test func fileToolsAndOpenAIChat() {
    let files = FileTools.definitions(root: "/srv/files")
    #expect(files.map { $0.0.name } == ["read_file", "write_file", "list_directory"])
    #expect(files[1].spec == ["kind": "file", "operation": "write_file", "root": "/srv/files"])
    #expect(files[1].0.inputSchema["required"] == ["path", "content"])
    #expect(files[2].0.inputSchema["required"] == nil)

    let (chat, spec) = OpenAIChatTool.definition(baseURL: "http://localhost:11434/v1/", apiKey: nil, model: nil)
    #expect(chat.name == "openai_chat")
    #expect(spec == ["kind": "openai_chat", "base_url": "http://localhost:11434/v1", "api_key": "", "model": "gpt-4o-mini"])
    let valid: JSONValue = ["messages": [["role": "user", "content": "Hello"]], "max_tokens": 512]
    #expect(JSONSchema.validate(valid, against: chat.inputSchema) == nil)
    #expect(JSONSchema.validate(["messages": [["role": "robot", "content": "x"]]], against: chat.inputSchema) != nil)
    #expect(JSONSchema.validate(["messages": [], "max_tokens": 0], against: chat.inputSchema) != nil)
}
