//! The canonical text of a label set (its "key"): the `series` table's
//! `labels` column and the in-memory index's key. Length-prefixed
//! (`8:__name__2:up`), so any byte may be in a name or value, and read
//! back without allocating (matching reads label values from it).

use picket_core::metric::Labels;

/// The canonical text of a label set: its key in `series`.
pub fn key(labels: &Labels) -> String {
    let mut k = String::with_capacity(labels.iter().map(|(n, v)| n.len() + v.len() + 8).sum());
    key_into(labels.iter(), &mut k);
    k
}

/// Appends the [`key`] of labels given as pairs sorted by name.
pub(super) fn key_into<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>, k: &mut String) {
    use std::fmt::Write;
    for (n, v) in labels {
        // Writing to a String cannot fail.
        let _ = write!(k, "{}:{n}{}:{v}", n.len(), v.len());
    }
}

/// The (name, value) pairs of a [`key`], in order; they stop early on a
/// malformed key ([`parse_key`] tells).
pub(super) fn key_pairs(k: &str) -> impl Iterator<Item = (&str, &str)> {
    fn part<'a>(p: &mut &'a str) -> Option<&'a str> {
        let (n, rest) = p.split_once(':')?;
        let n: usize = n.parse().ok()?;
        let s = rest.get(..n)?;
        *p = rest.get(n..)?;
        Some(s)
    }
    let mut p = k;
    std::iter::from_fn(move || {
        if p.is_empty() {
            return None;
        }
        let n = part(&mut p)?;
        let v = part(&mut p)?;
        Some((n, v))
    })
}

/// The value of label `name` in a [`key`].
pub(super) fn key_get<'a>(k: &'a str, name: &str) -> Option<&'a str> {
    key_pairs(k).find(|p| p.0 == name).map(|p| p.1)
}

/// The labels of a [`key`] the store wrote.
pub(super) fn labels_of(k: &str) -> Labels {
    let mut l = Labels::new();
    for (n, v) in key_pairs(k) {
        l.set(n.to_string(), v);
    }
    l
}

/// The inverse of [`key`], checked: None when `k` is not a key (a damaged
/// `series` row).
pub(super) fn parse_key(k: &str) -> Option<Labels> {
    let l = labels_of(k);
    (key(&l) == k).then_some(l)
}
