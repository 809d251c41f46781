//! Counters and their Prometheus text rendering (`GET /metrics`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Labelled counters. Gauges (connections, instances) are read live when rendering.
#[derive(Debug, Default)]
pub struct Metrics {
    logins: Mutex<BTreeMap<String, u64>>,
    logins_by_platform: Mutex<BTreeMap<String, u64>>,
    kicks: Mutex<BTreeMap<String, u64>>,
    frames_rejected: Mutex<BTreeMap<String, u64>>,
    connections_refused: Mutex<BTreeMap<String, u64>>,
    connections_closed_by_limit: Mutex<BTreeMap<String, u64>>,
    callbacks: Mutex<BTreeMap<(u64, &'static str), u64>>,
    messages_refused: Mutex<BTreeMap<String, u64>>,
    settled: Mutex<BTreeMap<String, u64>>,
    forwarded_ignored: Mutex<BTreeMap<String, u64>>,
    proxy_protocol_refused: Mutex<BTreeMap<String, u64>>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, label: &str) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    // The label's String is made once, when it is first seen (two bumps per login otherwise allocate).
    match map.get_mut(label) {
        Some(count) => *count += 1,
        None => {
            map.insert(label.to_string(), 1);
        }
    }
}

impl Metrics {
    /// A login finished with `result` (`ok`, `resumed`, `repeat`, or an error name in lower case).
    pub fn login(&self, result: &str) {
        bump(&self.logins, result);
    }

    /// A successful login from `platform`.
    pub fn login_platform(&self, platform: &str) {
        bump(&self.logins_by_platform, platform);
    }

    /// A kick of `kick_type` (the wire string) was delivered or applied.
    pub fn kick(&self, kick_type: &str) {
        bump(&self.kicks, kick_type);
    }

    /// An inbound frame was rejected for `reason`.
    pub fn frame_rejected(&self, reason: &str) {
        bump(&self.frames_rejected, reason);
    }

    /// A connection or its login was refused, never served (`server_full`, `rate_limited`).
    pub fn connection_refused(&self, reason: &str) {
        bump(&self.connections_refused, reason);
    }

    /// A served connection was closed because it hit a limit (`login_deadline`, `idle_timeout`,
    /// `slow_consumer`, `write_timeout`).
    pub fn connection_closed_by_limit(&self, reason: &str) {
        bump(&self.connections_closed_by_limit, reason);
    }

    /// A state-change callback event of the app `sdk_app_id` was `delivered`, `retried`, `failed`
    /// (attempts ran out) or `dropped` (its queue was full).
    pub fn callback(&self, sdk_app_id: u64, result: &'static str) {
        let mut map = self.callbacks.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((sdk_app_id, result)).or_insert(0) += 1;
    }

    /// A sendMessage was refused for `reason` (`rate_limited`).
    pub fn message_refused(&self, reason: &str) {
        bump(&self.messages_refused, reason);
    }

    /// A request from a peer not in `trusted_proxies` carried `X-Forwarded-For` or `Forwarded`: ignored.
    pub fn forwarded_ignored(&self, channel: &str) {
        bump(&self.forwarded_ignored, channel);
    }

    /// A connection was refused because it did not start with a valid PROXY header (`invalid`, `timeout`).
    pub fn proxy_protocol_refused(&self, reason: &str) {
        bump(&self.proxy_protocol_refused, reason);
    }

    /// A registry operation that must happen (a release, detach or removal whose connection is gone)
    /// was `retried` after the registry could not answer, `confirmed` after retries, or `dropped`
    /// (too many waiting).
    pub fn settled(&self, result: &str) {
        bump(&self.settled, result);
    }

    /// Renders every metric; `connections` and `instances` are the current gauge values.
    pub fn render(&self, connections: usize, instances: usize) -> String {
        let mut out = String::new();
        gauge(&mut out, "tim_connections", "Open WebSocket connections.", connections);
        gauge(
            &mut out,
            "tim_instances",
            "Live (attached or detached) instances.",
            instances,
        );
        counter(
            &mut out,
            "tim_logins_total",
            "Logins by result.",
            "result",
            &self.logins,
        );
        counter(
            &mut out,
            "tim_logins_by_platform_total",
            "Successful logins by platform.",
            "platform",
            &self.logins_by_platform,
        );
        counter(&mut out, "tim_kicks_total", "Kicks by type.", "type", &self.kicks);
        counter(
            &mut out,
            "tim_frames_rejected_total",
            "Inbound frames rejected, by reason.",
            "reason",
            &self.frames_rejected,
        );
        counter(
            &mut out,
            "tim_connections_refused_total",
            "Connections or logins refused by a limit, by reason.",
            "reason",
            &self.connections_refused,
        );
        counter(
            &mut out,
            "tim_connections_closed_by_limit_total",
            "Served connections closed by a limit, by reason.",
            "reason",
            &self.connections_closed_by_limit,
        );
        {
            let name = "tim_callbacks_total";
            let help =
                "State-change callback events by app (SDKAppID) and outcome (delivered, retried, failed, dropped).";
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let values = self.callbacks.lock().unwrap_or_else(|p| p.into_inner());
            for ((app, result), n) in values.iter() {
                let _ = writeln!(out, "{name}{{app=\"{app}\",result=\"{result}\"}} {n}");
            }
        }
        counter(
            &mut out,
            "tim_messages_refused_total",
            "sendMessage requests refused, by reason.",
            "reason",
            &self.messages_refused,
        );
        counter(
            &mut out,
            "tim_registry_pending_total",
            "Releases, detaches and removals the registry could not confirm at once, by outcome (retried, confirmed, dropped).",
            "result",
            &self.settled,
        );
        counter(
            &mut out,
            "tim_forwarded_headers_ignored_total",
            "X-Forwarded-For / Forwarded headers ignored because the peer is not a trusted proxy, by way in (ws, http).",
            "via",
            &self.forwarded_ignored,
        );
        counter(
            &mut out,
            "tim_proxy_protocol_refused_total",
            "Connections refused for lack of a valid PROXY protocol header, by reason (invalid, timeout, closed).",
            "reason",
            &self.proxy_protocol_refused,
        );
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: usize) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, label: &str, values: &Mutex<BTreeMap<String, u64>>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    let values = values.lock().unwrap_or_else(|p| p.into_inner());
    for (value, n) in values.iter() {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.login("ok");
        m.login("ok");
        m.kick("multipleAccount");
        m.connection_refused("server_full");
        m.connection_closed_by_limit("idle_timeout");
        let text = m.render(3, 2);
        assert!(text.contains("tim_connections 3\n"), "{text}");
        assert!(text.contains("tim_logins_total{result=\"ok\"} 2\n"), "{text}");
        assert!(text.contains("tim_kicks_total{type=\"multipleAccount\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE tim_frames_rejected_total counter\n"), "{text}");
        // Refusals and closes of served connections are separate counters.
        assert!(
            text.contains("tim_connections_refused_total{reason=\"server_full\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("tim_connections_refused_total{reason=\"idle_timeout\"}"),
            "{text}"
        );
        assert!(
            text.contains("tim_connections_closed_by_limit_total{reason=\"idle_timeout\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("tim_connections_closed_by_limit_total{reason=\"server_full\"}"),
            "{text}"
        );
    }
}
