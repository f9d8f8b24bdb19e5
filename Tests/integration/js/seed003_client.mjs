// Drives seed 003's JavaScript client class against mcpd's tenant endpoint (test_mcp_tenant_js.py).
//
//   node seed003_client.mjs BASE_URL TOKEN PROTOCOL_VERSION AGENCY_UUID
//
// Prints one JSON object on stdout: {"initialize": ..., "sessionId": ..., "toolsList": ...,
// "echo": ..., "ping": ..., "connection": [...]} or {"error": "..."} (exit status 1).
//
// The class between the BEGIN and END markers is copied verbatim from seed 003's "JavaScript Client
// Implementation" (public documentation mcpd must serve unchanged); the test checks that it still
// matches the seed. Everything else here is the driver.

// ---- BEGIN seed 003 MCPClient (verbatim) ----
class MCPClient {
    constructor(baseUrl, accessToken, protocolVersion = '2025-03-26') {
        this.baseUrl = baseUrl;
        this.accessToken = accessToken;
        this.protocolVersion = protocolVersion;
        this.sessionId = null;
        this.connection = null;
        this.pendingRequests = new Map();
        this.requestIdCounter = 0;
    }

    async initialize(agencyId) {
        const headers = {
            'Authorization': `Bearer ${this.accessToken}`,
            'Content-Type': 'application/json'
        };

        if (this.protocolVersion === '2025-06-18') {
            headers['MCP-Protocol-Version'] = this.protocolVersion;
        }

        const response = await fetch(`${this.baseUrl}/mcp/${agencyId}`, {
            method: 'POST',
            headers: headers,
            body: JSON.stringify({
                jsonrpc: '2.0',
                method: 'initialize',
                params: {
                    protocolVersion: this.protocolVersion,
                    capabilities: {},
                    clientInfo: { name: 'JS Client', version: '1.0.0' }
                },
                id: 1
            })
        });

        if (!response.ok) {
            if (response.status === 401) {
                const error = await response.json();
                if (error.error?.data?.oauth) {
                    throw new Error('Authentication required - OAuth endpoints: ' +
                                   JSON.stringify(error.error.data.oauth));
                }
            }
            throw new Error(`HTTP ${response.status}: ${response.statusText}`);
        }

        this.sessionId = response.headers.get('Mcp-Session-Id');
        return response.json();
    }

    connectStreaming(agencyId) {
        const url = `${this.baseUrl}/mcp/${agencyId}?session_id=${this.sessionId}`;

        if (this.shouldUseStreamableHTTP()) {
            this.connectStreamableHTTP(url);
        } else {
            this.connectSSE(url);
        }
    }

    shouldUseStreamableHTTP() {
        return ['2025-03-26', '2025-06-18'].includes(this.protocolVersion);
    }

    connectSSE(url) {
        const headers = {
            'Authorization': `Bearer ${this.accessToken}`
        };

        if (this.protocolVersion === '2025-06-18') {
            headers['MCP-Protocol-Version'] = this.protocolVersion;
        }

        this.connection = new EventSource(url, { headers });

        this.connection.addEventListener('message', (event) => {
            const data = JSON.parse(event.data);
            this.handleMessage(data);
        });

        this.connection.addEventListener('error', (event) => {
            console.error('SSE connection error:', event);
        });
    }

    connectStreamableHTTP(url) {
        const headers = {
            'Authorization': `Bearer ${this.accessToken}`
        };

        if (this.protocolVersion === '2025-06-18') {
            headers['MCP-Protocol-Version'] = this.protocolVersion;
        }

        fetch(url, { headers })
            .then(response => {
                const reader = response.body.getReader();
                this.processStreamableHTTP(reader);
            })
            .catch(error => {
                console.error('Streamable HTTP connection error:', error);
            });
    }

    async processStreamableHTTP(reader) {
        while (true) {
            const { done, value } = await reader.read();
            if (done) break;

            const text = new TextDecoder().decode(value);
            const lines = text.split('\n');

            for (const line of lines) {
                if (line.trim()) {
                    try {
                        const data = JSON.parse(line);
                        this.handleMessage(data);
                    } catch (e) {
                        // Ignore parse errors for partial chunks
                    }
                }
            }
        }
    }

    handleMessage(data) {
        if (data.id && this.pendingRequests.has(data.id)) {
            const { resolve } = this.pendingRequests.get(data.id);
            this.pendingRequests.delete(data.id);
            resolve(data);
        } else if (data.method === 'notifications/progress') {
            console.log('Progress:', data.params);
        } else if (data.method === 'notifications/connection') {
            console.log('Connection status:', data.params.status);
        }
    }

    async call(agencyId, method, params = {}) {
        const id = ++this.requestIdCounter;

        const promise = new Promise((resolve, reject) => {
            this.pendingRequests.set(id, { resolve, reject });

            setTimeout(() => {
                if (this.pendingRequests.has(id)) {
                    this.pendingRequests.delete(id);
                    reject(new Error('Request timeout'));
                }
            }, 30000);
        });

        const headers = {
            'Authorization': `Bearer ${this.accessToken}`,
            'Mcp-Session-Id': this.sessionId,
            'Content-Type': 'application/json'
        };

        if (this.protocolVersion === '2025-06-18') {
            headers['MCP-Protocol-Version'] = this.protocolVersion;
        }

        await fetch(`${this.baseUrl}/mcp/${agencyId}`, {
            method: 'POST',
            headers: headers,
            body: JSON.stringify({
                jsonrpc: '2.0',
                method,
                params,
                id
            })
        });

        return promise;
    }

    disconnect() {
        if (this.connection) {
            if (this.connection.close) {
                this.connection.close();
            }
            this.connection = null;
        }
    }
}
// ---- END seed 003 MCPClient ----

const [baseUrl, token, protocolVersion, agencyId] = process.argv.slice(2);
const connectionStatuses = [];
const originalLog = console.log;
// The class reports stream notifications with console.log; keep stdout for the JSON result.
console.log = (...args) => {
    if (args[0] === 'Connection status:') connectionStatuses.push(args[1]);
    process.stderr.write(args.map(String).join(' ') + '\n');
};

async function main() {
    const client = new MCPClient(baseUrl, token, protocolVersion);
    const initialize = await client.initialize(agencyId);
    client.connectStreaming(agencyId);
    const toolsList = await client.call(agencyId, 'tools/list');
    const echo = await client.call(agencyId, 'tools/call', { name: 'echo', arguments: { message: 'Hello MCP!' } });
    const ping = await client.call(agencyId, 'ping');
    client.disconnect();
    return { initialize, sessionId: client.sessionId, toolsList, echo, ping, connection: connectionStatuses };
}

const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: 'timed out' }) + '\n');
    process.exit(1);
}, 15000);

main().then(
    (result) => {
        clearTimeout(watchdog);
        process.stdout.write(JSON.stringify(result) + '\n');
        // The class keeps reading its stream (disconnect() only closes an EventSource): exit here.
        process.exit(0);
    },
    (error) => {
        clearTimeout(watchdog);
        process.stdout.write(JSON.stringify({ error: String(error && error.stack || error) }) + '\n');
        process.exit(1);
    });
