// The gauges and table counters GET /metrics reads at each scrape, from the objects that own them:
// nothing is copied or kept in step, so a scrape shows the same figures as `mcpctl status`.
import Calls
import CallTable
import ExecuteAPI
import HTTP
import Management
import MCP
import Metrics
import Pool

enum MetricsGauges {
    static func register(on metrics: Metrics, table: CallTable, calls: CallService, server: HTTPServer,
                         api: ExecuteAPI, mcp: MCPService, registry: Registry) {
        metrics.addGauges { [unowned calls] in
            var workers = Family(name: "mcpd_workers", help: "Worker processes by pool and state.", type: .gauge, samples: [])
            var queued = Family(name: "mcpd_queue_depth", help: "Calls waiting for a worker, by pool.", type: .gauge, samples: [])
            let pools = [("mcp-worker", calls.pool)] + calls.serverPools.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            for (name, pool) in pools {
                let counts = pool.counts
                for (state, count) in [("starting", counts.starting), ("idle", counts.idle), ("busy", counts.busy), ("stopping", counts.stopping)] {
                    workers.samples.append(Sample(labels: [("pool", name), ("state", state)], value: Double(count)))
                }
                queued.samples.append(Sample(labels: [("pool", name)], value: Double(counts.queued)))
            }
            return [workers, queued,
                    .single("mcpd_calls_in_flight", help: "Calls pending or running.", Double(calls.activeCount))]
        }
        // The call table's counters: every pool's spawns, crashes, recycles and kills, and calls by
        // outcome since the supervisor started (the same figures mcpctl shows).
        metrics.addGauges { [unowned table] in
            let counters = table.snapshot().counters
            let described: [(CallTableCounter, String, String)] = [
                (.workersSpawned, "mcpd_worker_spawns_total", "Worker processes started."),
                (.workersCrashed, "mcpd_worker_crashes_total", "Worker processes that died on their own."),
                (.workersRecycled, "mcpd_worker_recycles_total", "Workers replaced after their call budget."),
                (.workersKilled, "mcpd_worker_kills_total", "Workers killed by the supervisor (deadline, stuck, cancel grace)."),
                (.callsAccepted, "mcpd_calls_accepted_total", "Calls accepted into the pool."),
            ]
            return described.map { counter, name, help in
                .single(name, help: help, type: .counter, Double(counters[counter] ?? 0))
            }
        }
        metrics.addGauges { [unowned server, unowned api, unowned mcp] in
            [.single("mcpd_open_connections", help: "Open HTTP connections.", Double(server.openConnections)),
             Family(name: "mcpd_open_streams", help: "Open event streams, by surface.", type: .gauge, samples: [
                 Sample(labels: [("surface", "execute")], value: Double(api.openStreamCount)),
                 Sample(labels: [("surface", "mcp")], value: Double(mcp.openStreamCount)),
             ]),
             .single("mcpd_mcp_sessions", help: "MCP sessions open.", Double(mcp.sessionCount))]
        }
        metrics.addGauges { [unowned registry] in
            var up = Family(name: "mcpd_member_server_up", help: "1 when a member server is healthy, 0 when not, by server (active servers whose health is known).",
                            type: .gauge, samples: [])
            for server in registry.servers.sorted(by: { $0.id < $1.id }) where server.health != .unknown {
                up.samples.append(Sample(labels: [("server", server.id)], value: server.health == .healthy ? 1 : 0))
            }
            return [up]
        }
    }
}
