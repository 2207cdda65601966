//! The hub's own metrics on its `/metrics`: what it ingested and refused,
//! its store's size and maintenance, its scrape targets, its MQTT input
//! and config reloads, and its process and heap (`process_*` as
//! Prometheus has them).
//! Kept apart from the server because it changes with what is counted,
//! not with how requests are routed.

use std::sync::atomic::Ordering;

use super::server::Hub;
use picket_core::metric::{Labels, MetricType, Sample};

/// The hub's own metrics, as text.
pub(crate) fn metrics(hub: &Hub) -> String {
    let st = &hub.store.stats;
    let sizes = hub.store.sizes();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let c = MetricType::Counter;
    let g = MetricType::Gauge;
    let none = Labels::new;
    let code = |v: &str| Labels::from_pairs([("code", v)]);
    let mut s = vec![
        Sample::new(
            "picket_hub_samples_appended_total",
            "Samples stored.",
            c,
            none(),
            ld(&st.appended),
        ),
        Sample::new(
            "picket_hub_samples_rejected_total",
            "Samples refused, by reason.",
            c,
            Labels::from_pairs([("reason", "too_old")]),
            ld(&st.too_old),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("204"),
            ld(&hub.ingest.requests),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("400"),
            ld(&hub.ingest.rejected_bad),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("401"),
            ld(&hub.ingest.rejected_auth),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("500"),
            ld(&hub.ingest.failed),
        ),
        Sample::new(
            "picket_hub_series",
            "Series known to the store.",
            g,
            none(),
            sizes.series as f64,
        ),
        Sample::new(
            "picket_hub_head_samples",
            "Samples in memory, not yet in chunks.",
            g,
            none(),
            sizes.head_samples as f64,
        ),
        Sample::new(
            "picket_hub_storage_bytes",
            "Bytes of database pages in use.",
            g,
            none(),
            sizes.db_bytes as f64,
        ),
        Sample::new(
            "picket_hub_storage_file_bytes",
            "Bytes of the database file and its WAL.",
            g,
            none(),
            sizes.file_bytes as f64,
        ),
        Sample::new(
            "picket_hub_commits_total",
            "Commits of appended samples.",
            c,
            none(),
            ld(&st.commits),
        ),
        Sample::new(
            "picket_hub_checkpoints_total",
            "Checkpoints run.",
            c,
            none(),
            ld(&st.checkpoints),
        ),
        Sample::new(
            "picket_hub_checkpoint_failures_total",
            "Checkpoints that failed.",
            c,
            none(),
            ld(&st.checkpoint_failures),
        ),
        Sample::new(
            "picket_hub_chunks_written_total",
            "Chunk rows written by checkpoints.",
            c,
            none(),
            ld(&st.chunks_written),
        ),
        Sample::new(
            "picket_hub_compactions_total",
            "Series-days compacted into one chunk.",
            c,
            none(),
            ld(&st.compactions),
        ),
        Sample::new(
            "picket_hub_retention_deleted_chunks_total",
            "Chunk rows deleted by retention.",
            c,
            none(),
            ld(&st.retention_deleted),
        ),
        Sample::new(
            "picket_hub_uptime_seconds",
            "Seconds since the hub started.",
            g,
            none(),
            hub.started.elapsed().as_secs_f64(),
        ),
    ];
    let reloads = &hub.reloads;
    s.push(Sample::new(
        "prometheus_config_last_reload_successful",
        "Whether the last configuration reload attempt was successful.",
        g,
        none(),
        f64::from(u8::from(reloads.last_ok.load(Ordering::Relaxed))),
    ));
    s.push(Sample::new(
        "prometheus_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        g,
        none(),
        reloads.last_success_ms.load(Ordering::Relaxed) as f64 / 1000.0,
    ));
    s.push(Sample::new(
        "picket_hub_config_reload_failures_total",
        "Configuration reloads that failed (the running config was kept).",
        c,
        none(),
        ld(&reloads.failures),
    ));
    let targets = hub.scrape.targets();
    for health in ["up", "down", "unknown"] {
        s.push(Sample::new(
            "picket_hub_scrape_targets",
            "Scrape targets by the health of their last scrape.",
            g,
            Labels::from_pairs([("health", health)]),
            targets.iter().filter(|t| t.health == health).count() as f64,
        ));
    }
    let pushing = hub.sources.status();
    for transport in ["remote_write", "mqtt"] {
        for (health, up) in [("up", true), ("down", false)] {
            s.push(Sample::new(
                "picket_hub_push_sources",
                "Boards that push, by transport and health (down: silent for down_after_intervals, or an MQTT last will).",
                g,
                Labels::from_pairs([("health", health), ("transport", transport)]),
                pushing
                    .iter()
                    .filter(|p| p.up == up && p.transport.as_str() == transport)
                    .count() as f64,
            ));
        }
    }
    s.push(Sample::new(
        "picket_hub_push_up_samples_overridden_total",
        "Backlogged up samples of a push source not stored: the hub's up 0 covers their time.",
        c,
        none(),
        ld(&hub.sources.overridden),
    ));
    if hub.cfg.mqtt.is_some() {
        let m = &hub.mqtt;
        for (name, help, v) in [
            (
                "picket_hub_mqtt_received_messages_total",
                "MQTT messages taken (metrics stored, status read).",
                &m.received,
            ),
            (
                "picket_hub_mqtt_received_samples_total",
                "Samples stored from MQTT metrics messages.",
                &m.samples,
            ),
            (
                "picket_hub_mqtt_rejected_messages_total",
                "MQTT messages refused (payload or status not understood) and dropped.",
                &m.rejected,
            ),
            (
                "picket_hub_mqtt_reconnects_total",
                "Broker connections lost or failed.",
                &m.reconnects,
            ),
        ] {
            s.push(Sample::new(name, help, c, none(), ld(v)));
        }
        s.push(Sample::new(
            "picket_hub_mqtt_connected",
            "1 while the broker connection is up.",
            g,
            none(),
            f64::from(u8::from(m.connected.load(Ordering::Relaxed))),
        ));
    }
    rule_metrics(hub, &mut s);
    picket_core::process::collect(&mut picket_core::metric::Out::new(&mut s));
    heap_metrics(&mut s);
    let mut out = Vec::new();
    picket_core::encode::text::encode(&mut s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The allocator's view of memory (glibc's `mallinfo2`, as Go's
/// `go_memstats_heap_*` give Prometheus's): what is allocated, and what
/// the allocator holds from the system; RSS lies between the two.
#[cfg(target_env = "gnu")]
fn heap_metrics(s: &mut Vec<Sample>) {
    // SAFETY: mallinfo2 only reads the allocator's own counters.
    let m = unsafe { libc::mallinfo2() };
    let g = MetricType::Gauge;
    s.push(Sample::new(
        "picket_hub_heap_inuse_bytes",
        "Bytes allocated on the heap, mmapped blocks included.",
        g,
        Labels::new(),
        (m.uordblks + m.hblkhd) as f64,
    ));
    s.push(Sample::new(
        "picket_hub_heap_sys_bytes",
        "Bytes the allocator holds from the system (heap arenas and mmapped blocks), returned pages included.",
        g,
        Labels::new(),
        (m.arena + m.hblkhd) as f64,
    ));
}

/// Other C libraries have no `mallinfo2`: `process_*` only.
#[cfg(not(target_env = "gnu"))]
fn heap_metrics(_: &mut Vec<Sample>) {}

/// The rule engine's and the notifier's counters, under Prometheus's names
/// (so its dashboards and alerts on them work against the hub).
fn rule_metrics(hub: &Hub, s: &mut Vec<Sample>) {
    let c = MetricType::Counter;
    let g = MetricType::Gauge;
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let r = &hub.rules;
    s.push(Sample::new(
        "prometheus_rule_evaluations_total",
        "The total number of rule evaluations.",
        c,
        Labels::new(),
        ld(&r.stats.evaluations),
    ));
    s.push(Sample::new(
        "prometheus_rule_evaluation_failures_total",
        "The total number of rule evaluation failures.",
        c,
        Labels::new(),
        ld(&r.stats.failures),
    ));
    let missed: u64 = r.with_groups(|gs| gs.iter().map(|g| g.missed).sum());
    s.push(Sample::new(
        "prometheus_rule_group_iterations_missed_total",
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        c,
        Labels::new(),
        missed as f64,
    ));
    s.push(Sample::new(
        "prometheus_notifications_dropped_total",
        "Total number of alerts dropped due to errors when sending to Alertmanager.",
        c,
        Labels::new(),
        r.notifier.dropped() as f64,
    ));
    s.push(Sample::new(
        "prometheus_notifications_queue_length",
        "The number of alert notifications in the queue.",
        g,
        Labels::new(),
        r.notifier.queue_len() as f64,
    ));
    let d = r.dispatch.stats();
    s.push(Sample::new(
        "picket_hub_notifications_delivered_total",
        "Direct notifications (webhook, email, MQTT) delivered.",
        c,
        Labels::new(),
        ld(&d.sent),
    ));
    s.push(Sample::new(
        "picket_hub_notifications_failed_total",
        "Direct notification attempts that failed (each is retried).",
        c,
        Labels::new(),
        ld(&d.failed),
    ));
    s.push(Sample::new(
        "picket_hub_notifications_outbox",
        "Direct notifications waiting for delivery (kept across restarts).",
        g,
        Labels::new(),
        r.dispatch.outbox_len() as f64,
    ));
    for (url, st) in r.notifier.stats() {
        let l = || Labels::from_pairs([("alertmanager", url.clone())]);
        s.push(Sample::new(
            "prometheus_notifications_sent_total",
            "Total number of alerts sent.",
            c,
            l(),
            ld(&st.sent),
        ));
        s.push(Sample::new(
            "prometheus_notifications_errors_total",
            "Total number of errors sending alert notifications.",
            c,
            l(),
            ld(&st.errors),
        ));
    }
}
