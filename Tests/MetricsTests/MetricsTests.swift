import Testing
@testable import Metrics

@Suite struct MetricsTests {
    @Test func callsAreCountedByToolSurfaceAndOutcome() {
        let metrics = Metrics()
        metrics.callEnded(tool: "echo", surface: "mcp", outcome: "finished", seconds: 0.0004)
        metrics.callEnded(tool: "echo", surface: "mcp", outcome: "finished", seconds: 0.02)
        metrics.callEnded(tool: "echo", surface: "execute", outcome: "error", seconds: 3)
        let text = metrics.render()
        #expect(text.contains("# TYPE mcpd_calls_total counter\n"))
        #expect(text.contains("mcpd_calls_total{tool=\"echo\",surface=\"mcp\",outcome=\"finished\"} 2\n"))
        #expect(text.contains("mcpd_calls_total{tool=\"echo\",surface=\"execute\",outcome=\"error\"} 1\n"))
    }

    @Test func callCountsAreListedByToolSurfaceAndOutcomeWhateverTheOrderTheyEndedIn() {
        let metrics = Metrics()
        for (tool, surface, outcome) in [("zeta", "mcp", "finished"), ("alpha", "mcp", "error"), ("zeta", "execute", "finished"),
                                         ("alpha", "mcp", "error"), ("alpha", "execute", "cancelled"), ("zeta", "mcp", "finished")] {
            metrics.callEnded(tool: tool, surface: surface, outcome: outcome, seconds: 0.001)
        }
        let lines = metrics.render().split(separator: "\n").filter { $0.hasPrefix("mcpd_calls_total{") }
        #expect(lines == [
            #"mcpd_calls_total{tool="alpha",surface="execute",outcome="cancelled"} 1"#,
            #"mcpd_calls_total{tool="alpha",surface="mcp",outcome="error"} 2"#,
            #"mcpd_calls_total{tool="zeta",surface="execute",outcome="finished"} 1"#,
            #"mcpd_calls_total{tool="zeta",surface="mcp",outcome="finished"} 2"#,
        ])
        #expect(metrics.render().contains(#"mcpd_call_duration_seconds_count{tool="zeta"} 3"#))
    }

    @Test func histogramBucketsAreCumulativeAndEndWithInf() {
        let metrics = Metrics()
        for seconds in [0.0004, 0.02, 3.0] {
            metrics.callEnded(tool: "t", surface: "mcp", outcome: "finished", seconds: seconds)
        }
        let text = metrics.render()
        #expect(text.contains("mcpd_call_duration_seconds_bucket{tool=\"t\",le=\"0.0005\"} 1\n"))
        #expect(text.contains("mcpd_call_duration_seconds_bucket{tool=\"t\",le=\"0.01\"} 1\n"))
        #expect(text.contains("mcpd_call_duration_seconds_bucket{tool=\"t\",le=\"0.025\"} 2\n"))
        #expect(text.contains("mcpd_call_duration_seconds_bucket{tool=\"t\",le=\"5\"} 3\n"))
        #expect(text.contains("mcpd_call_duration_seconds_bucket{tool=\"t\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("mcpd_call_duration_seconds_count{tool=\"t\"} 3\n"))
        #expect(text.contains("mcpd_call_duration_seconds_sum{tool=\"t\"} 3.0204"))
    }

    @Test func labelValuesAndHelpAreEscaped() {
        let metrics = Metrics()
        metrics.callEnded(tool: "we\"ird\\na\nme", surface: "mcp", outcome: "finished", seconds: 1)
        metrics.addGauges { [Family(name: "g", help: "line one\nback\\slash", type: .gauge, samples: [Sample(value: 1.5)])] }
        let text = metrics.render()
        #expect(text.contains("tool=\"we\\\"ird\\\\na\\nme\""))
        #expect(text.contains("# HELP g line one\\nback\\\\slash\n"))
        #expect(text.contains("\ng 1.5\n"))
    }

    @Test func rateLimitRejectionsAreCountedBySurface() {
        let metrics = Metrics()
        metrics.rateLimitRejected(surface: "mcp", limit: "request")
        metrics.rateLimitRejected(surface: "mcp", limit: "request")
        metrics.rateLimitRejected(surface: "execute", limit: "tool")
        let text = metrics.render()
        #expect(text.contains("mcpd_rate_limit_rejections_total{surface=\"mcp\",limit=\"request\"} 2\n"))
        #expect(text.contains("mcpd_rate_limit_rejections_total{surface=\"execute\",limit=\"tool\"} 1\n"))
    }
}
