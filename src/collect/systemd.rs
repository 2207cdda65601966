//! systemd: not supported; always reports no data (success 0).
//!
//! node_exporter's `systemd_linux.go` gets everything from systemd's D-Bus
//! API (`org.freedesktop.systemd1`): `ListUnits` for every loaded unit's
//! `ActiveState`/`LoadState` (→ `node_systemd_units{state}`, with all five of
//! active/activating/deactivating/inactive/failed present, and
//! `node_systemd_unit_state{name,state,type}`), then per unit `Service.Type`/
//! `Mount.Type`, `Socket.NAccepted`/`NConnections`/`NRefused`
//! (`node_systemd_socket_*`), `Timer.LastTriggerUSec`, optional
//! `NRestarts`, `TasksCurrent`/`TasksMax` and `ActiveEnterTimestamp`, and the
//! manager's `Version`, `Virtualization` and `SystemState`
//! (`node_systemd_version`, `node_systemd_virtualization_info`,
//! `node_systemd_system_running`).
//!
//! Nothing on disk carries that state: `/run/systemd/units/` only holds
//! `invocation:<unit>` links of units started since boot, and the cgroup tree
//! (`/sys/fs/cgroup/system.slice`) only shows units that have processes —
//! neither knows inactive or failed units, socket counters or timer
//! triggers, so counts built from them would silently disagree with
//! node_exporter (a failed unit, the case alerts care about, would vanish).
//! Rather than export wrong numbers under node_exporter's names, the
//! collector returns [`CollectError::NoData`].
//!
//! What a faithful version needs, in order of cost:
//! - a small D-Bus client of our own over `/run/dbus/system_bus_socket`
//!   (SASL `AUTH EXTERNAL`, `Hello`, method calls, and unmarshalling of
//!   `a(ssssssouso)` and `v` replies): no new dependency, roughly 600–900
//!   lines plus tests;
//! - or the `zbus` crate (pure Rust): zbus 5.19 with
//!   `default-features = false, features = ["async-io", "blocking-api"]`
//!   adds about 50 crates and, measured on a release build with this
//!   project's profile (opt-level "s", fat LTO, stripped), about 0.9 MB to a
//!   small smol binary (0.37 MB → 1.27 MB, x86_64); it also needs Rust 1.87
//!   (zbus 6 needs 1.89), above this crate's `rust-version` 1.80;
//! - or the `dbus` crate, which links the C libdbus-1 (smaller, but a C
//!   dependency and a cross-compiling sysroot for arm64);
//! - or running `systemctl list-units --all` / `systemctl show` per scrape
//!   (no dependency, but a process spawn per scrape and a text interface
//!   that is not node_exporter's).

use std::sync::Once;

use super::{CollectError, Ctx, Out};

const WHY: &str = "systemd collector needs D-Bus, not supported: unit states, socket and \
                   timer metrics are only available from systemd's D-Bus API";

/// Always reports that the collector is not supported (warning once, since
/// the collector is off unless asked for).
pub fn update(_ctx: &Ctx<'_>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| log::warn!("{WHY}"));
    Err(CollectError::NoData(WHY.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_no_data() {
        let root = crate::collect::Root::default();
        let opts = crate::collect::Options::default();
        let ctx = Ctx {
            root: &root,
            opts: &opts,
        };
        let mut v = Vec::new();
        let r = update(&ctx, &mut Out::new(&mut v));
        assert!(matches!(r, Err(CollectError::NoData(m)) if m.contains("D-Bus")));
        assert!(v.is_empty());
    }
}
