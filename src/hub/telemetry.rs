//! The hub's own metrics on its `/metrics`: what it ingested and refused,
//! its store's size and maintenance, its scrape targets, its MQTT input
//! and config reloads, and its process and heap (`process_*` as
//! Prometheus has them).
//! Kept apart from the server because it changes with what is counted,
//! not with how requests are routed.

use std::sync::atomic::{AtomicU64, Ordering};

use super::server::Hub;
use picket_core::metric::Out;

/// The hub's own metrics, as text.
pub(crate) fn metrics(hub: &Hub) -> String {
    let mut s = Vec::new();
    let mut out = Out::new(&mut s);
    store_metrics(hub, &mut out);
    reload_metrics(hub, &mut out);
    source_metrics(hub, &mut out);
    if hub.cfg.mqtt.is_some() {
        mqtt_metrics(hub, &mut out);
    }
    rule_metrics(hub, &mut out);
    picket_core::process::collect(&mut out);
    heap_metrics(&mut out);
    let mut text = Vec::new();
    picket_core::encode::text::encode(&mut s, &mut text);
    String::from_utf8(text).unwrap_or_default()
}

fn ld(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// What was ingested and refused, and the store's size and maintenance.
fn store_metrics(hub: &Hub, out: &mut Out<'_>) {
    let st = &hub.store.stats;
    let sizes = hub.store.sizes();
    out.counter(
        "picket_hub_samples_appended_total",
        "Samples stored.",
        &[],
        ld(&st.appended),
    );
    out.counter(
        "picket_hub_samples_rejected_total",
        "Samples refused, by reason.",
        &[("reason", "too_old")],
        ld(&st.too_old),
    );
    out.counter(
        "picket_hub_remote_write_requests_total",
        "remote_write requests by outcome.",
        &[("code", "204")],
        ld(&hub.ingest.requests),
    );
    out.counter(
        "picket_hub_remote_write_requests_total",
        "remote_write requests by outcome.",
        &[("code", "400")],
        ld(&hub.ingest.rejected_bad),
    );
    out.counter(
        "picket_hub_remote_write_requests_total",
        "remote_write requests by outcome.",
        &[("code", "401")],
        ld(&hub.ingest.rejected_auth),
    );
    out.counter(
        "picket_hub_remote_write_requests_total",
        "remote_write requests by outcome.",
        &[("code", "500")],
        ld(&hub.ingest.failed),
    );
    out.gauge(
        "picket_hub_series",
        "Series known to the store.",
        &[],
        sizes.series as f64,
    );
    out.gauge(
        "picket_hub_head_samples",
        "Samples in memory, not yet in chunks.",
        &[],
        sizes.head_samples as f64,
    );
    out.gauge(
        "picket_hub_storage_bytes",
        "Bytes of database pages in use.",
        &[],
        sizes.db_bytes as f64,
    );
    out.gauge(
        "picket_hub_storage_file_bytes",
        "Bytes of the database file and its WAL.",
        &[],
        sizes.file_bytes as f64,
    );
    out.counter(
        "picket_hub_commits_total",
        "Commits of appended samples.",
        &[],
        ld(&st.commits),
    );
    out.counter(
        "picket_hub_checkpoints_total",
        "Checkpoints run.",
        &[],
        ld(&st.checkpoints),
    );
    out.counter(
        "picket_hub_checkpoint_failures_total",
        "Checkpoints that failed.",
        &[],
        ld(&st.checkpoint_failures),
    );
    out.counter(
        "picket_hub_chunks_written_total",
        "Chunk rows written by checkpoints.",
        &[],
        ld(&st.chunks_written),
    );
    out.counter(
        "picket_hub_compactions_total",
        "Series-days compacted into one chunk.",
        &[],
        ld(&st.compactions),
    );
    out.counter(
        "picket_hub_retention_deleted_chunks_total",
        "Chunk rows deleted by retention.",
        &[],
        ld(&st.retention_deleted),
    );
    out.gauge(
        "picket_hub_uptime_seconds",
        "Seconds since the hub started.",
        &[],
        hub.started.elapsed().as_secs_f64(),
    );
}

/// Config reloads, under Prometheus's names.
fn reload_metrics(hub: &Hub, out: &mut Out<'_>) {
    let reloads = &hub.reloads;
    out.gauge(
        "prometheus_config_last_reload_successful",
        "Whether the last configuration reload attempt was successful.",
        &[],
        f64::from(u8::from(reloads.last_ok.load(Ordering::Relaxed))),
    );
    out.gauge(
        "prometheus_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        &[],
        reloads.last_success_ms.load(Ordering::Relaxed) as f64 / 1000.0,
    );
    out.counter(
        "picket_hub_config_reload_failures_total",
        "Configuration reloads that failed (the running config was kept).",
        &[],
        ld(&reloads.failures),
    );
}

/// Scrape targets and push sources by health.
fn source_metrics(hub: &Hub, out: &mut Out<'_>) {
    let targets = hub.scrape.targets();
    for health in ["up", "down", "unknown"] {
        out.gauge(
            "picket_hub_scrape_targets",
            "Scrape targets by the health of their last scrape.",
            &[("health", health)],
            targets.iter().filter(|t| t.health == health).count() as f64,
        );
    }
    let pushing = hub.sources.status();
    for transport in ["remote_write", "mqtt"] {
        for (health, up) in [("up", true), ("down", false)] {
            out.gauge("picket_hub_push_sources", "Boards that push, by transport and health (down: silent for down_after_intervals, or an MQTT last will).", &[("health", health), ("transport", transport)], pushing
                    .iter()
                    .filter(|p| p.up == up && p.transport.as_str() == transport)
                    .count() as f64);
        }
    }
    out.counter(
        "picket_hub_push_up_samples_overridden_total",
        "Backlogged up samples of a push source not stored: the hub's up 0 covers their time.",
        &[],
        ld(&hub.sources.overridden),
    );
}

/// The MQTT input.
fn mqtt_metrics(hub: &Hub, out: &mut Out<'_>) {
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
        out.counter(name, help, &[], ld(v));
    }
    out.gauge(
        "picket_hub_mqtt_connected",
        "1 while the broker connection is up.",
        &[],
        f64::from(u8::from(m.connected.load(Ordering::Relaxed))),
    );
}

/// The allocator's view of memory (glibc's `mallinfo2`, as Go's
/// `go_memstats_heap_*` give Prometheus's): what is allocated, and what
/// the allocator holds from the system; RSS lies between the two.
#[cfg(target_env = "gnu")]
fn heap_metrics(out: &mut Out<'_>) {
    // SAFETY: mallinfo2 only reads the allocator's own counters.
    let m = unsafe { libc::mallinfo2() };
    out.gauge(
        "picket_hub_heap_inuse_bytes",
        "Bytes allocated on the heap, mmapped blocks included.",
        &[],
        (m.uordblks + m.hblkhd) as f64,
    );
    out.gauge("picket_hub_heap_sys_bytes", "Bytes the allocator holds from the system (heap arenas and mmapped blocks), returned pages included.", &[], (m.arena + m.hblkhd) as f64);
}

/// Other C libraries have no `mallinfo2`: `process_*` only.
#[cfg(not(target_env = "gnu"))]
fn heap_metrics(_: &mut Out<'_>) {}

/// The rule engine's and the notifier's counters, under Prometheus's names
/// (so its dashboards and alerts on them work against the hub).
fn rule_metrics(hub: &Hub, out: &mut Out<'_>) {
    let r = &hub.rules;
    out.counter(
        "prometheus_rule_evaluations_total",
        "The total number of rule evaluations.",
        &[],
        ld(&r.stats.evaluations),
    );
    out.counter(
        "prometheus_rule_evaluation_failures_total",
        "The total number of rule evaluation failures.",
        &[],
        ld(&r.stats.failures),
    );
    let missed: u64 = r.with_groups(|gs| gs.iter().map(|g| g.missed).sum());
    out.counter(
        "prometheus_rule_group_iterations_missed_total",
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        &[],
        missed as f64,
    );
    out.counter(
        "prometheus_notifications_dropped_total",
        "Total number of alerts dropped due to errors when sending to Alertmanager.",
        &[],
        r.notifier.dropped() as f64,
    );
    out.gauge(
        "prometheus_notifications_queue_length",
        "The number of alert notifications in the queue.",
        &[],
        r.notifier.queue_len() as f64,
    );
    let d = r.dispatch.stats();
    out.counter(
        "picket_hub_notifications_delivered_total",
        "Direct notifications (webhook, email, MQTT) delivered.",
        &[],
        ld(&d.sent),
    );
    out.counter(
        "picket_hub_notifications_failed_total",
        "Direct notification attempts that failed (each is retried).",
        &[],
        ld(&d.failed),
    );
    out.gauge(
        "picket_hub_notifications_outbox",
        "Direct notifications waiting for delivery (kept across restarts).",
        &[],
        r.dispatch.outbox_len() as f64,
    );
    for (url, st) in r.notifier.stats() {
        out.counter(
            "prometheus_notifications_sent_total",
            "Total number of alerts sent.",
            &[("alertmanager", url.as_str())],
            ld(&st.sent),
        );
        out.counter(
            "prometheus_notifications_errors_total",
            "Total number of errors sending alert notifications.",
            &[("alertmanager", url.as_str())],
            ld(&st.errors),
        );
    }
}
