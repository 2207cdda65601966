//! What the hub's sections resolve against: the one error locator both
//! binaries share ([`picket_core::config::Locator`], here called [`Ctx`]),
//! plus the hub's way of picking a setting from a flag or the file
//! ([`Given`]) and checking durations.

use std::time::Duration;

use picket_core::config::{parse_duration, ConfigError};

pub use picket_core::config::Locator as Ctx;

/// A setting's value and where it came from: a flag (which wins over the
/// file) or the file's dotted key.
#[derive(Debug, Clone)]
pub(crate) struct Given<'k> {
    /// The text given.
    pub value: String,
    /// The flag that gave it, if any.
    pub flag: Option<&'static str>,
    /// The file's key for it.
    pub key: &'k str,
}

impl<'k> Given<'k> {
    /// The flag's value if given, else the file's.
    pub(crate) fn pick(
        flag: &Option<String>,
        file: &Option<String>,
        key: &'k str,
        fl: &'static str,
    ) -> Option<Given<'k>> {
        match (flag, file) {
            (Some(v), _) => Some(Given {
                value: v.clone(),
                flag: Some(fl),
                key,
            }),
            (None, Some(v)) => Some(Given::file(v, key)),
            (None, None) => None,
        }
    }

    /// A value from the file only.
    pub(crate) fn file(value: &str, key: &'k str) -> Given<'k> {
        Given {
            value: value.to_string(),
            flag: None,
            key,
        }
    }
}

/// Duration settings, checked against the locator.
pub(crate) trait Durations {
    /// A duration setting, `default` when not given.
    fn duration(&self, v: Option<Given<'_>>, default: Duration) -> Result<Duration, ConfigError>;

    /// A duration setting that must be more than 0 (at `key`, or the flag
    /// that gave it).
    fn positive_duration(
        &self,
        v: Option<Given<'_>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError>;
}

impl Durations for Ctx<'_> {
    fn duration(&self, v: Option<Given<'_>>, default: Duration) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(g) => parse_duration(&g.value).map_err(|e| self.at(g.key, g.flag, e)),
        }
    }

    fn positive_duration(
        &self,
        v: Option<Given<'_>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let flag = v.as_ref().and_then(|g| g.flag);
        let d = self.duration(v, default)?;
        if d.is_zero() {
            return Err(self.at(key, flag, "must be more than 0".into()));
        }
        Ok(d)
    }
}
