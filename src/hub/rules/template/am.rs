//! Alertmanager 0.25's notification data as templates see it
//! (`template.Data`): `.Receiver`, `.Status`, `.Alerts` (with `.Firing`
//! and `.Resolved`), `.GroupLabels`, `.CommonLabels`,
//! `.CommonAnnotations`, `.ExternalURL`; each alert's `.Status`,
//! `.Labels`, `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`,
//! `.Fingerprint`; and the methods of its label sets (`KV`):
//! `.SortedPairs` (`alertname` first, then by name; each pair's `.Name`
//! and `.Value`), `.Names`, `.Values`, `.Remove`.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::gotime::Time;
use super::V;

/// One alert of a notification.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AmAlert {
    /// "firing" or "resolved".
    pub status: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt` (ms).
    pub starts_at: i64,
    /// `endsAt` (ms); `None` while firing (Alertmanager hides it).
    pub ends_at: Option<i64>,
    /// Link to the expression.
    pub generator_url: String,
    /// The label set's fingerprint, 16 hex digits.
    pub fingerprint: String,
}

/// A notification: Alertmanager's `template.Data`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Notification {
    /// The receiver's name, regexp-quoted as Alertmanager passes it.
    pub receiver: String,
    /// "firing" when any alert fires, else "resolved".
    pub status: String,
    /// The alerts, in notification order.
    pub alerts: Vec<AmAlert>,
    /// The group's labels.
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts share.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts share.
    pub common_annotations: BTreeMap<String, String>,
    /// The sender's external URL.
    pub external_url: String,
}

/// A notification as values, built once per rendering.
#[derive(Debug)]
pub(super) struct Root {
    receiver: String,
    status: String,
    alerts: V,
    group_labels: V,
    common_labels: V,
    common_annotations: V,
    external_url: String,
}

/// An alert as values.
#[derive(Debug)]
pub(super) struct AlertV {
    status: String,
    labels: V,
    annotations: V,
    starts_at: Time,
    ends_at: Time,
    generator_url: String,
    fingerprint: String,
}

/// What a list holds, for its methods and `%v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListKind {
    /// `[]string`.
    Strings,
    /// `template.Pairs`: `.Names`, `.Values`.
    Pairs,
    /// `template.Alerts`: `.Firing`, `.Resolved`.
    Alerts,
    /// `[]template.Alert` (what `.Firing` returns: no methods).
    AlertSlice,
}

fn kv(m: &BTreeMap<String, String>) -> V {
    V::Kv(Rc::new(m.clone()))
}

impl Notification {
    /// The values templates see.
    pub(super) fn root(&self) -> V {
        let alerts = self
            .alerts
            .iter()
            .map(|a| {
                V::Alert(Rc::new(AlertV {
                    status: a.status.clone(),
                    labels: kv(&a.labels),
                    annotations: kv(&a.annotations),
                    starts_at: Some(a.starts_at),
                    ends_at: a.ends_at,
                    generator_url: a.generator_url.clone(),
                    fingerprint: a.fingerprint.clone(),
                }))
            })
            .collect();
        V::Notification(Rc::new(Root {
            receiver: self.receiver.clone(),
            status: self.status.clone(),
            alerts: V::List(Rc::new(alerts), ListKind::Alerts),
            group_labels: kv(&self.group_labels),
            common_labels: kv(&self.common_labels),
            common_annotations: kv(&self.common_annotations),
            external_url: self.external_url.clone(),
        }))
    }
}

/// `SortedPairs`: `alertname` first, then by name.
fn sorted_pairs(m: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(m.len());
    if let Some(v) = m.get("alertname") {
        out.push(("alertname".into(), v.clone()));
    }
    out.extend(
        m.iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

fn strings(items: impl Iterator<Item = String>) -> V {
    V::List(Rc::new(items.map(V::Str).collect()), ListKind::Strings)
}

/// The string items of a `[]string` argument.
pub(super) fn string_list(v: &V, what: &str) -> Result<Vec<String>, String> {
    match v {
        V::List(items, ListKind::Strings) => Ok(items.iter().map(V::text).collect()),
        V::Nil => Ok(Vec::new()),
        o => Err(format!(
            "wrong type for value; expected []string; got {} ({what})",
            o.type_name()
        )),
    }
}

/// Calls method `name` of `v` with `args`, or field `name` of it
/// (`None`: it has neither).
pub(super) fn member(v: &V, name: &str, args: &[V]) -> Option<Result<V, String>> {
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    let r = match (v, name) {
        (V::Kv(m), "SortedPairs") => want(0).map(|()| {
            V::List(
                Rc::new(
                    sorted_pairs(m)
                        .into_iter()
                        .map(|p| V::Pair(Rc::new(p)))
                        .collect(),
                ),
                ListKind::Pairs,
            )
        }),
        (V::Kv(m), "Names") => want(0).map(|()| strings(sorted_pairs(m).into_iter().map(|p| p.0))),
        (V::Kv(m), "Values") => want(0).map(|()| strings(sorted_pairs(m).into_iter().map(|p| p.1))),
        (V::Kv(m), "Remove") => want(1).and_then(|()| {
            let keys = string_list(&args[0], "Remove")?;
            let mut out = (**m).clone();
            for k in keys {
                out.remove(&k);
            }
            Ok(V::Kv(Rc::new(out)))
        }),
        (V::List(items, ListKind::Pairs), "Names" | "Values") => want(0).map(|()| {
            strings(items.iter().map(|p| match p {
                V::Pair(p) if name == "Names" => p.0.clone(),
                V::Pair(p) => p.1.clone(),
                o => o.text(),
            }))
        }),
        (V::List(items, ListKind::Alerts), "Firing" | "Resolved") => want(0).map(|()| {
            let status = if name == "Firing" {
                "firing"
            } else {
                "resolved"
            };
            let picked = items
                .iter()
                .filter(|a| matches!(a, V::Alert(a) if a.status == status))
                .cloned()
                .collect();
            V::List(Rc::new(picked), ListKind::AlertSlice)
        }),
        (V::Pair(p), "Name") => want(0).map(|()| V::Str(p.0.clone())),
        (V::Pair(p), "Value") => want(0).map(|()| V::Str(p.1.clone())),
        (V::Notification(r), f) => {
            let v = match f {
                "Receiver" => V::Str(r.receiver.clone()),
                "Status" => V::Str(r.status.clone()),
                "Alerts" => r.alerts.clone(),
                "GroupLabels" => r.group_labels.clone(),
                "CommonLabels" => r.common_labels.clone(),
                "CommonAnnotations" => r.common_annotations.clone(),
                "ExternalURL" => V::Str(r.external_url.clone()),
                _ => return None,
            };
            want(0).map(|()| v)
        }
        (V::Alert(a), f) => {
            let v = match f {
                "Status" => V::Str(a.status.clone()),
                "Labels" => a.labels.clone(),
                "Annotations" => a.annotations.clone(),
                "StartsAt" => V::Time(a.starts_at),
                "EndsAt" => V::Time(a.ends_at),
                "GeneratorURL" => V::Str(a.generator_url.clone()),
                "Fingerprint" => V::Str(a.fingerprint.clone()),
                _ => return None,
            };
            want(0).map(|()| v)
        }
        (V::Time(t), m) => return time_method(*t, m, args),
        _ => return None,
    };
    Some(r)
}

/// The methods of `time.Time` templates use.
fn time_method(t: Time, name: &str, args: &[V]) -> Option<Result<V, String>> {
    use super::gotime;
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    Some(match name {
        "Format" => want(1).and_then(|()| match &args[0] {
            V::Str(l) => Ok(V::Str(gotime::format(t, l))),
            o => Err(format!(
                "wrong type for value; expected string; got {}",
                o.type_name()
            )),
        }),
        "String" => want(0).map(|()| V::Str(gotime::string(t))),
        "Unix" => want(0).map(|()| V::Int(gotime::unix(t))),
        "UnixMilli" => want(0).map(|()| V::Int(gotime::unix_milli(t))),
        "UTC" | "Local" => want(0).map(|()| V::Time(t)),
        "IsZero" => want(0).map(|()| V::Bool(t.is_none())),
        "Month" => want(0).map(|()| V::Str(gotime::month_name(t))),
        "Weekday" => want(0).map(|()| V::Str(gotime::weekday_name(t))),
        other => match gotime::component(t, other) {
            Some(r) => want(0).and(r.map(V::Int)),
            None => return None,
        },
    })
}

/// `%v` of the Alertmanager values (Go's printing of these structs).
pub(super) fn text(v: &V) -> Option<String> {
    Some(match v {
        V::Kv(m) => super::go_map(m),
        V::Pair(p) => format!("{{{} {}}}", p.0, p.1),
        V::List(items, _) => {
            let parts: Vec<String> = items.iter().map(V::text).collect();
            format!("[{}]", parts.join(" "))
        }
        V::Alert(a) => format!(
            "{{{} {} {} {} {} {} {}}}",
            a.status,
            a.labels.text(),
            a.annotations.text(),
            super::gotime::string(a.starts_at),
            super::gotime::string(a.ends_at),
            a.generator_url,
            a.fingerprint
        ),
        V::Notification(r) => format!(
            "{{{} {} {} {} {} {} {}}}",
            r.receiver,
            r.status,
            r.alerts.text(),
            r.group_labels.text(),
            r.common_labels.text(),
            r.common_annotations.text(),
            r.external_url
        ),
        V::Time(t) => super::gotime::string(*t),
        _ => return None,
    })
}

/// Go's `regexp.QuoteMeta`, as Alertmanager quotes `.Receiver`.
pub(crate) fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
