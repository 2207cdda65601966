//! Reading: series matching label matchers (the in-memory index), label
//! names and values, and samples (head, sealing and chunk rows merged).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::params;

use super::keys::{key, key_get, labels_of};
use super::{
    cache, chunk, lock, Limit, Matcher, Op, Points, SelectError, State, Store, StoreError, DAY_MS,
};
use picket_core::metric::Labels;

impl Store {
    /// overlaps `[mint, maxt]`.
    fn matching(&self, st: &State, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        let mut candidates: Option<BTreeSet<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let mut ids = BTreeSet::new();
            if let Some(values) = st.postings.get(&m.name) {
                match m.op {
                    Op::Eq => {
                        if let Some(v) = values.get(&m.value) {
                            ids.extend(v.iter().copied());
                        }
                    }
                    _ => {
                        for (v, list) in values {
                            if m.matches(v) {
                                ids.extend(list.iter().copied());
                            }
                        }
                    }
                }
            }
            candidates = Some(match candidates {
                None => ids,
                Some(c) => c.intersection(&ids).copied().collect(),
            });
        }
        let all: Box<dyn Iterator<Item = u32>> = match candidates {
            Some(c) => Box::new(c.into_iter()),
            None => Box::new(
                st.series
                    .keys()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter(),
            ),
        };
        all.filter(|id| {
            st.series.get(id).is_some_and(|s| {
                s.max_t >= mint
                    && s.min_t <= maxt
                    && matchers
                        .iter()
                        .all(|m| m.matches(key_get(&s.key, &m.name).unwrap_or("")))
            })
        })
        .collect()
    }

    /// Label sets of the series matching `matchers` with data in `[mint, maxt]`.
    pub(crate) fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let st = lock(&self.state);
        let mut out: Vec<Labels> = self
            .matching(&st, matchers, mint, maxt)
            .into_iter()
            .filter_map(|id| st.series.get(&id).map(|s| labels_of(&s.key)))
            .collect();
        out.sort();
        out
    }

    /// Label names of the matching series (all series when `selectors` is
    /// empty), sorted. Each selector is a set of matchers; series matching
    /// any selector count.
    pub(crate) fn label_names(
        &self,
        selectors: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        let mut names = BTreeSet::new();
        for l in self.union(selectors, mint, maxt) {
            for (n, v) in l.iter() {
                if !v.is_empty() {
                    names.insert(n.to_string());
                }
            }
        }
        names.into_iter().collect()
    }

    /// Values of label `name` over the matching series, sorted.
    pub(crate) fn label_values(
        &self,
        name: &str,
        selectors: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        let mut values = BTreeSet::new();
        for l in self.union(selectors, mint, maxt) {
            if let Some(v) = l.get(name).filter(|v| !v.is_empty()) {
                values.insert(v.to_string());
            }
        }
        values.into_iter().collect()
    }

    fn union(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<Labels> {
        if selectors.is_empty() {
            return self.series(&[], mint, maxt);
        }
        let mut seen = BTreeMap::new();
        for sel in selectors {
            for l in self.series(sel, mint, maxt) {
                seen.insert(key(&l), l);
            }
        }
        seen.into_values().collect()
    }

    /// The samples in `[mint, maxt]` of every matching series, series in
    /// label order, samples in time order.
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Points)>, StoreError> {
        self.select_limited(matchers, mint, maxt, Limit::NONE)
            .map_err(|e| match e {
                SelectError::Store(e) => e,
                SelectError::Limit(what) => StoreError(what.into()),
            })
    }

    /// [`Store::select`] that stops as soon as `limit` is passed: before
    /// reading any chunk when too many series match, and while decoding
    /// when too many samples have been read, so a query over everything
    /// fails fast instead of exhausting a small board's memory.
    pub(crate) fn select_limited(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limit: Limit,
    ) -> Result<Vec<(Labels, Points)>, SelectError> {
        let found: Vec<(u32, Labels, Points)> = {
            let st = lock(&self.state);
            let ids = self.matching(&st, matchers, mint, maxt);
            if limit.series > 0 && ids.len() > limit.series {
                return Err(SelectError::Limit("series"));
            }
            ids.into_iter()
                .filter_map(|id| {
                    let s = st.series.get(&id)?;
                    let mut mem = Vec::new();
                    if let Some(src) = st.sealing.get(&id) {
                        mem = src.range(mint, maxt);
                    }
                    if let Some(h) = st.head.get(&id) {
                        mem = chunk::merge(&mem, &h.range(mint, maxt));
                    }
                    Some((id, labels_of(&s.key), mem))
                })
                .collect()
        };
        // The chunks' bytes first, under the reader's lock; decoding after
        // it, so concurrent queries (Grafana sends six at a time) decode in
        // parallel.
        let fetched = {
            let db = lock(&self.reader);
            let mut q = db.prepare_cached(
                // A chunk spans at most a day: `start` bounds the key range.
                "SELECT start, data FROM chunks WHERE series_id = ?1 AND start >= ?4 AND start <= ?3 AND max_t >= ?2 AND min_t <= ?3 ORDER BY start",
            )?;
            let first_start = mint.saturating_sub(DAY_MS);
            let mut fetched = Vec::with_capacity(found.len());
            for (id, labels, mem) in found {
                let blobs: Vec<(i64, Vec<u8>)> = q
                    .query_map(params![id, mint, maxt, first_start], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                fetched.push((id, labels, mem, blobs));
            }
            fetched
        };
        let mut out = Vec::with_capacity(fetched.len());
        let mut read = fetched.iter().map(|f| f.2.len()).sum::<usize>();
        for (id, labels, mem, blobs) in fetched {
            let mut samples: Vec<(i64, f64)> = Vec::new();
            for (start, b) in blobs {
                match cache::decode(&self.cache, id, start, &b) {
                    Ok(s) => {
                        let lo = s.partition_point(|p| p.0 < mint);
                        let hi = s.partition_point(|p| p.0 <= maxt);
                        read += hi - lo;
                        if limit.samples > 0 && read > limit.samples {
                            return Err(SelectError::Limit("samples"));
                        }
                        samples = chunk::merge(&samples, &s[lo..hi]);
                    }
                    // One unreadable chunk costs its own window, not the query.
                    Err(e) => log::error!("series {id}, chunk at {start}: {e}; skipped"),
                }
            }
            let samples = chunk::merge(&samples, &mem);
            if !samples.is_empty() {
                out.push((labels, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
