//! Inhibition rules of direct notifications (Alertmanager's
//! `inhibit_rules`): a firing alert matching `source_matchers` mutes the
//! alerts matching `target_matchers` that carry the same values of the
//! `equal` labels. As written, checked, and applied at each flush.

use serde::Deserialize;

use super::route::matchers;
use crate::store::Matcher;
use picket_core::metric::Labels;

/// An inhibition rule as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InhibitToml {
    /// What the muting (firing) alert matches.
    pub source_matchers: Vec<String>,
    /// What the muted alert matches.
    pub target_matchers: Vec<String>,
    /// Labels both must have equal.
    pub equal: Vec<String>,
}

/// A checked inhibition rule.
#[derive(Debug, Clone)]
pub struct Inhibit {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

impl InhibitToml {
    /// Checks the `i`th rule; errors are `(dotted key, message)`.
    pub(crate) fn resolve(&self, i: usize) -> Result<Inhibit, (String, String)> {
        let key = format!("notify.inhibit_rules[{i}]");
        Ok(Inhibit {
            source: matchers(&self.source_matchers, &format!("{key}.source_matchers"))?,
            target: matchers(&self.target_matchers, &format!("{key}.target_matchers"))?,
            equal: self.equal.clone(),
        })
    }
}

impl Inhibit {
    /// Whether firing `source` alerts mute `target` (a missing `equal`
    /// label counts as empty; an alert matching both sides does not mute
    /// itself).
    pub(crate) fn mutes(&self, target: &Labels, firing: &[&Labels]) -> bool {
        if !self.target.iter().all(|m| m.matches_labels(target)) {
            return false;
        }
        let target_is_source = self.source.iter().all(|m| m.matches_labels(target));
        firing.iter().any(|s| {
            self.source.iter().all(|m| m.matches_labels(s))
                && !(target_is_source && *s == target)
                && self
                    .equal
                    .iter()
                    .all(|l| s.get(l).unwrap_or("") == target.get(l).unwrap_or(""))
        })
    }
}
