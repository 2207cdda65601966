//! Delivering the rule engine's alerts: everything that changes with
//! where and how notifications go, apart from how rules are evaluated
//! ([`crate::rules`] hands its due alerts here as [`Alert`]s and knows
//! nothing else of this module).
//!
//! ```text
//! rules::manager ──Alert──→ alertmanager (POST to external Alertmanagers)
//!                      └──→ dispatch (direct notifications, `[notify]`):
//!                           route → group → silence / inhibit → outbox
//!                           → webhook | email | mqtt
//! ```
//!
//! Two paths, as in a Prometheus setup with and without Alertmanager:
//! [`alertmanager`] sends every alert to the Alertmanagers of
//! `[[alerting.alertmanagers]]`, as Prometheus's notifier does; the
//! direct path does a small Alertmanager's work: `[notify]` as written
//! and checked ([`config`]), or an unchanged alertmanager.yml read into
//! it ([`amconfig`]), the routing tree ([`route`]), time intervals
//! ([`timeinterval`], with zones from [`tz`]), grouping, flushing and
//! the SQLite outbox ([`dispatch`], [`outbox`]), silences ([`silence`])
//! and inhibition rules ([`inhibit`]), notification templates
//! ([`tmpl`]: emails' `html`, `text` and headers, with the `templates`
//! files), and the receivers ([`webhook`], [`email`], [`mqtt`]).

pub(crate) mod alertmanager;
pub mod amconfig;
pub(crate) mod config;
pub(crate) mod dispatch;
pub(crate) mod email;
pub(crate) mod inhibit;
pub(crate) mod mqtt;
mod outbox;
pub(crate) mod route;
pub(crate) mod silence;
pub(crate) mod timeinterval;
pub(crate) mod tmpl;
pub(crate) mod tz;
pub(crate) mod webhook;

use crate::json;
use picket_core::metric::Labels;

/// An alert leaving the rule engine, as both paths send it: Alertmanager's
/// `startsAt`, `endsAt` (from `resolved_at` or `valid_until`) and
/// `generatorURL`.
#[derive(Clone, Debug)]
pub(crate) struct Alert {
    /// The alert's labels (without external labels; each path adds them).
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: Labels,
    /// When it started firing (`startsAt`).
    pub starts_at: i64,
    /// When it resolved (0: firing).
    pub resolved_at: i64,
    /// When a firing alert expires if not re-sent (its `endsAt`).
    pub valid_until: i64,
    /// Link to the expression.
    pub generator_url: String,
}

impl Alert {
    /// Whether it counts as resolved at `now`: resolved by the rule
    /// engine, or expired without being re-sent.
    pub(crate) fn resolved(&self, now: i64) -> bool {
        self.resolved_at != 0 || (self.valid_until != 0 && self.valid_until <= now)
    }

    /// `endsAt` as sent: the resolution, else the expiry.
    pub(crate) fn ends_at(&self) -> i64 {
        if self.resolved_at != 0 {
            self.resolved_at
        } else {
            self.valid_until
        }
    }

    /// The fields Alertmanager's API v2 and its webhook payload share,
    /// without braces: `"labels":…,"annotations":…,"startsAt":"…",
    /// "endsAt":"…","generatorURL":…`, with `endsAt` at `ends_at` (ms).
    pub(crate) fn write_json_fields(&self, s: &mut String, ends_at: i64) {
        s.push_str("\"labels\":");
        json::labels(s, &self.labels);
        s.push_str(",\"annotations\":");
        json::labels(s, &self.annotations);
        s.push_str(",\"startsAt\":\"");
        json::rfc3339(s, self.starts_at);
        s.push_str("\",\"endsAt\":\"");
        json::rfc3339(s, ends_at);
        s.push_str("\",\"generatorURL\":");
        json::string(s, &self.generator_url);
    }

    /// The alert with the external labels it lacks added.
    pub(crate) fn with_external(&self, external: &Labels) -> Alert {
        let mut a = self.clone();
        for (k, v) in external.iter() {
            if a.labels.get(k).is_none() {
                a.labels.set(k.to_string(), v);
            }
        }
        a
    }
}
