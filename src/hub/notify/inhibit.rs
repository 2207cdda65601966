//! Inhibition rules of direct notifications (Alertmanager's
//! `inhibit_rules`): a firing alert matching the source side mutes the
//! alerts matching the target side that carry the same values of the
//! `equal` labels. Both sides are written as `source_matchers` /
//! `target_matchers` or in 0.25's deprecated form (`source_match`,
//! `source_match_re`, `target_match`, `target_match_re`), or both. As
//! written, checked, and applied at each flush.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::route::all_matchers;
use crate::store::Matcher;
use picket_core::metric::{valid_label_name, Labels};

/// An inhibition rule as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InhibitToml {
    /// What the muting (firing) alert matches.
    pub source_matchers: Vec<String>,
    /// Deprecated: source labels equal to these values.
    pub source_match: BTreeMap<String, String>,
    /// Deprecated: source labels matching these regexes.
    pub source_match_re: BTreeMap<String, String>,
    /// What the muted alert matches.
    pub target_matchers: Vec<String>,
    /// Deprecated: target labels equal to these values.
    pub target_match: BTreeMap<String, String>,
    /// Deprecated: target labels matching these regexes.
    pub target_match_re: BTreeMap<String, String>,
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
        let side = |s: &str| {
            [
                format!("{key}.{s}_match"),
                format!("{key}.{s}_match_re"),
                format!("{key}.{s}_matchers"),
            ]
        };
        let [a, b, c] = side("source");
        let source = all_matchers(
            &self.source_match,
            &self.source_match_re,
            &self.source_matchers,
            [&a, &b, &c],
        )?;
        let [a, b, c] = side("target");
        let target = all_matchers(
            &self.target_match,
            &self.target_match_re,
            &self.target_matchers,
            [&a, &b, &c],
        )?;
        if let Some((j, l)) = (self.equal.iter().enumerate()).find(|(_, l)| !valid_label_name(l)) {
            return Err((
                format!("{key}.equal[{j}]"),
                format!("{l:?} is not a valid label name"),
            ));
        }
        Ok(Inhibit {
            source,
            target,
            equal: self.equal.clone(),
        })
    }
}

impl Inhibit {
    /// Whether firing `source` alerts mute `target` (a missing `equal`
    /// label counts as empty). When the target matches both sides, only
    /// sources that do not match the target side count (Alertmanager's
    /// `excludeTwoSidedMatch`), so such alerts never mute each other.
    pub(crate) fn mutes(&self, target: &Labels, firing: &[&Labels]) -> bool {
        if !self.target.iter().all(|m| m.matches_labels(target)) {
            return false;
        }
        let two_sided = self.source.iter().all(|m| m.matches_labels(target));
        firing.iter().any(|s| {
            self.source.iter().all(|m| m.matches_labels(s))
                && !(two_sided && self.target.iter().all(|m| m.matches_labels(s)))
                && self
                    .equal
                    .iter()
                    .all(|l| s.get(l).unwrap_or("") == target.get(l).unwrap_or(""))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alert matching both sides is not muted by another that also
    /// matches both, only by a source that is not a target.
    #[test]
    fn two_sided_matches_do_not_mute_each_other() {
        let r = InhibitToml {
            source_match: [("severity".to_string(), "critical".to_string())].into(),
            target_matchers: vec!["alertname=~\"A|B\"".into()],
            ..InhibitToml::default()
        }
        .resolve(0)
        .unwrap();
        let a = Labels::from_pairs([("alertname", "A"), ("severity", "critical")]);
        let b = Labels::from_pairs([("alertname", "B"), ("severity", "critical")]);
        let c = Labels::from_pairs([("alertname", "C"), ("severity", "critical")]);
        assert!(!r.mutes(&a, &[&a, &b]));
        assert!(r.mutes(&a, &[&c]));
        let bad = InhibitToml {
            equal: vec!["in-stance".into()],
            ..InhibitToml::default()
        };
        assert_eq!(
            bad.resolve(2).unwrap_err().0,
            "notify.inhibit_rules[2].equal[0]"
        );
    }
}
