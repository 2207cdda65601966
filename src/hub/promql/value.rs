//! Values a PromQL evaluation produces, both the public results
//! ([`Value`]) and the step-wise intermediate form the evaluator passes
//! between nodes ([`Inner`]), plus the label helpers every operator shares
//! (interning, dropping `__name__`, Prometheus's `Labels.String()` form).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use picket_core::metric::Labels;

pub use picket_core::metric::is_stale;

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (without `__name__` when an operation dropped it).
    pub labels: Labels,
    /// Evaluation time, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a range vector or a range query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// (ms, value), in time order.
    pub points: Vec<(i64, f64)>,
}

/// The result of a query, typed as Prometheus's API types it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `scalar`: (evaluation time ms, value).
    Scalar(i64, f64),
    /// `string`: (evaluation time ms, value).
    String(i64, String),
    /// `vector`: an instant vector (instant queries only).
    Vector(Vec<Sample>),
    /// `matrix`: range vectors and every range query's result, series
    /// sorted by labels.
    Matrix(Vec<Series>),
}

/// Interned label set: within one query, equal label sets share one
/// allocation, so identity (pointer) comparison is label equality.
pub(crate) type Lbl = Arc<Labels>;

/// One element of an intermediate instant vector (at one step).
#[derive(Clone, Debug)]
pub(crate) struct S {
    pub l: Lbl,
    pub v: f64,
}

/// A series with raw or step points, as range functions consume them.
pub(crate) type RangeSeries = (Lbl, Vec<(i64, f64)>);

/// What one AST node evaluates to, over all steps of the evaluation.
#[derive(Debug)]
pub(crate) enum Inner {
    /// A scalar per step.
    Scalar(Vec<f64>),
    /// A string literal.
    Str(String),
    /// An instant vector per step.
    Vector(Vec<Vec<S>>),
    /// A range vector (only as the top-level result of an instant query).
    Matrix(Vec<RangeSeries>),
}

/// Query-wide label interner.
#[derive(Default)]
pub(crate) struct Interner {
    set: HashSet<Lbl>,
}

impl Interner {
    /// The shared copy of `l`.
    pub(crate) fn intern(&mut self, l: Labels) -> Lbl {
        if let Some(x) = self.set.get(&l) {
            return x.clone();
        }
        let a = Arc::new(l);
        self.set.insert(a.clone());
        a
    }
}

/// Pointer identity of an interned label set.
pub(crate) fn key(l: &Lbl) -> usize {
    Arc::as_ptr(l) as usize
}

/// `l` without `__name__`.
pub(crate) fn without_name(l: &Labels) -> Labels {
    let mut out = l.clone();
    out.remove("__name__");
    out
}

/// Prometheus's `Labels.String()`: `{a="b", c="d"}` with Go quoting.
pub(crate) fn labels_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{n}={}", go_quote(v));
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote` for the characters label values usually hold.
pub(crate) fn go_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(s, "\\x{:02x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` (count_values' label).
pub(crate) fn format_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Go's `strconv.ParseFloat` for the `le` label (Rust's parser plus the
/// spellings Go accepts and Rust does not).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// True when two elements of `v` have the same labels.
pub(crate) fn has_duplicate_labels(v: &[S]) -> bool {
    if v.len() < 2 {
        return false;
    }
    let mut seen = HashSet::with_capacity(v.len());
    v.iter().any(|s| !seen.insert(key(&s.l)))
}
