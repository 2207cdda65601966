//! Binary operators: arithmetic, comparisons (filtering or `bool`), the
//! set operators and/or/unless, and vector matching (`on`/`ignoring`,
//! `group_left`/`group_right`), with Prometheus 2.x's metric-name rules
//! and error messages.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{dup_check, Evaluator, Grid};
use super::value::{self, labels_string, Inner, Lbl, S};
use super::Error;
use picket_core::metric::Labels;

/// A binary operator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    fn parse(s: &str) -> Option<BinOp> {
        Some(match s {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            "atan2" => BinOp::Atan2,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            ">" => BinOp::Gt,
            "<" => BinOp::Lt,
            ">=" => BinOp::Ge,
            "<=" => BinOp::Le,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    /// Prometheus 2.x `shouldDropMetricName`: arithmetic but not atan2.
    fn drops_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod
        )
    }
}

/// Go's `math.Mod` (the sign of the dividend; Rust's `%` on f64 is the
/// same fmod).
fn go_mod(a: f64, b: f64) -> f64 {
    a % b
}

/// The value and whether to keep it (`vectorElemBinop`).
fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (go_mod(l, r), true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (f64::NAN, false),
    }
}

/// Scalar-scalar (comparisons give 0 or 1; the parser requires `bool`).
fn scalar_op(op: BinOp, l: f64, r: f64) -> f64 {
    let (v, keep) = elem(op, l, r);
    if op.is_comparison() {
        if keep {
            1.0
        } else {
            0.0
        }
    } else {
        v
    }
}

/// Evaluates a binary expression.
pub(crate) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, grid: Grid) -> Result<Inner, Error> {
    let op = BinOp::parse(&b.op.to_string())
        .ok_or_else(|| Error::BadData(format!("unsupported binary operator {}", b.op)))?;
    let return_bool = b.return_bool();
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(Error::BadData(
                "fill() modifiers are not supported (Prometheus 3 syntax)".into(),
            ));
        }
    }
    let lhs = ev.eval(&b.lhs, grid)?;
    let rhs = ev.eval(&b.rhs, grid)?;
    match (lhs, rhs) {
        (Inner::Scalar(l), Inner::Scalar(r)) => Ok(Inner::Scalar(
            l.into_iter()
                .zip(r)
                .map(|(a, c)| scalar_op(op, a, c))
                .collect(),
        )),
        (Inner::Vector(l), Inner::Scalar(r)) => vector_scalar(ev, op, l, r, false, return_bool),
        (Inner::Scalar(l), Inner::Vector(r)) => vector_scalar(ev, op, r, l, true, return_bool),
        (Inner::Vector(l), Inner::Vector(r)) => vector_vector(ev, op, b, l, r, return_bool),
        _ => Err(Error::BadData(
            "binary expression must contain only scalar and instant vector types".into(),
        )),
    }
}

fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    vecs: Vec<Vec<S>>,
    scalars: Vec<f64>,
    swap: bool,
    return_bool: bool,
) -> Result<Inner, Error> {
    if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless) {
        return Err(Error::BadData(
            "set operators are not allowed in binary scalar expressions".into(),
        ));
    }
    let mut out = Vec::with_capacity(vecs.len());
    for (step, r) in vecs.into_iter().zip(scalars) {
        ev.check_deadline()?;
        let mut o = Vec::with_capacity(step.len());
        for s in step {
            let (lv, rv) = if swap { (r, s.v) } else { (s.v, r) };
            let (mut v, mut keep) = elem(op, lv, rv);
            if op.is_comparison() && swap {
                v = rv;
            }
            if return_bool {
                v = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                let l = if op.drops_name() || return_bool {
                    ev.drop_name(&s.l)
                } else {
                    s.l
                };
                o.push(S { l, v });
            }
        }
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

/// How two vectors match.
struct Matching {
    on: bool,
    names: Vec<String>,
    card: Card,
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

fn matching(b: &BinaryExpr, op: BinOp) -> Matching {
    let (on, names) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
        None => (false, Vec::new()),
    };
    let (card, include) = match b.modifier.as_ref().map(|m| &m.card) {
        Some(VectorMatchCardinality::ManyToOne(l)) => (Card::ManyToOne, l.labels.clone()),
        Some(VectorMatchCardinality::OneToMany(l)) => (Card::OneToMany, l.labels.clone()),
        Some(VectorMatchCardinality::ManyToMany) => (Card::ManyToMany, Vec::new()),
        _ => (Card::OneToOne, Vec::new()),
    };
    let card = if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless) {
        Card::ManyToMany
    } else {
        card
    };
    Matching {
        on,
        names,
        card,
        include,
    }
}

/// Per-node caches: match signatures and result label sets.
struct Caches {
    sig: HashMap<usize, Lbl>,
    result: HashMap<(usize, usize), Lbl>,
}

impl Matching {
    /// The labels two series are matched on (`MatchLabels`): the `on`
    /// labels, or all but the `ignoring` labels and `__name__`.
    fn sig(&self, ev: &mut Evaluator<'_>, c: &mut Caches, l: &Lbl) -> Lbl {
        if let Some(x) = c.sig.get(&value::key(l)) {
            return x.clone();
        }
        let kept = if self.on {
            Labels::from_pairs(
                l.iter()
                    .filter(|(n, _)| self.names.iter().any(|x| x == n))
                    .map(|(n, v)| (n.to_string(), v.to_string())),
            )
        } else {
            Labels::from_pairs(
                l.iter()
                    .filter(|(n, _)| *n != "__name__" && !self.names.iter().any(|x| x == n))
                    .map(|(n, v)| (n.to_string(), v.to_string())),
            )
        };
        let out = ev.intern(kept);
        c.sig.insert(value::key(l), out.clone());
        out
    }

    /// `resultMetric`: the output labels of a matched pair (`one` is the
    /// "one" side).
    fn result(
        &self,
        ev: &mut Evaluator<'_>,
        c: &mut Caches,
        op: BinOp,
        many: &Lbl,
        one: &Lbl,
    ) -> Lbl {
        let k = (value::key(many), value::key(one));
        if let Some(x) = c.result.get(&k) {
            return x.clone();
        }
        let mut l = (**many).clone();
        if op.drops_name() {
            l.remove("__name__");
        }
        if self.card == Card::OneToOne {
            if self.on {
                let drop: Vec<String> = l
                    .iter()
                    .filter(|(n, _)| !self.names.iter().any(|x| x == n))
                    .map(|(n, _)| n.to_string())
                    .collect();
                for n in drop {
                    l.remove(&n);
                }
            } else {
                for n in &self.names {
                    l.remove(n);
                }
            }
        }
        for n in &self.include {
            match one.get(n) {
                Some(v) if !v.is_empty() => l.set(n.clone(), v.to_string()),
                _ => {
                    l.remove(n);
                }
            }
        }
        let out = ev.intern(l);
        c.result.insert(k, out.clone());
        out
    }
}

fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    b: &BinaryExpr,
    lhs: Vec<Vec<S>>,
    rhs: Vec<Vec<S>>,
    return_bool: bool,
) -> Result<Inner, Error> {
    let m = matching(b, op);
    let mut c = Caches {
        sig: HashMap::new(),
        result: HashMap::new(),
    };
    let mut out = Vec::with_capacity(lhs.len());
    for (l, r) in lhs.into_iter().zip(rhs) {
        ev.check_deadline()?;
        let o = match op {
            BinOp::And => {
                if l.is_empty() || r.is_empty() {
                    Vec::new()
                } else {
                    let right: std::collections::HashSet<usize> = r
                        .iter()
                        .map(|s| value::key(&m.sig(ev, &mut c, &s.l)))
                        .collect();
                    l.into_iter()
                        .filter(|s| right.contains(&value::key(&m.sig(ev, &mut c, &s.l))))
                        .collect()
                }
            }
            BinOp::Or => {
                if l.is_empty() {
                    r
                } else if r.is_empty() {
                    l
                } else {
                    let left: std::collections::HashSet<usize> = l
                        .iter()
                        .map(|s| value::key(&m.sig(ev, &mut c, &s.l)))
                        .collect();
                    let mut o = l;
                    for s in r {
                        if !left.contains(&value::key(&m.sig(ev, &mut c, &s.l))) {
                            o.push(s);
                        }
                    }
                    o
                }
            }
            BinOp::Unless => {
                if l.is_empty() || r.is_empty() {
                    l
                } else {
                    let right: std::collections::HashSet<usize> = r
                        .iter()
                        .map(|s| value::key(&m.sig(ev, &mut c, &s.l)))
                        .collect();
                    l.into_iter()
                        .filter(|s| !right.contains(&value::key(&m.sig(ev, &mut c, &s.l))))
                        .collect()
                }
            }
            _ => binop(ev, &m, &mut c, op, l, r, return_bool)?,
        };
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

/// `VectorBinop` at one step.
fn binop(
    ev: &mut Evaluator<'_>,
    m: &Matching,
    c: &mut Caches,
    op: BinOp,
    lhs: Vec<S>,
    rhs: Vec<S>,
    return_bool: bool,
) -> Result<Vec<S>, Error> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let (lhs, rhs) = if m.card == Card::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut right: HashMap<usize, S> = HashMap::with_capacity(rhs.len());
    for rs in rhs {
        let sig = m.sig(ev, c, &rs.l);
        if let Some(dup) = right.get(&value::key(&sig)) {
            let side = if m.card == Card::OneToMany {
                "left"
            } else {
                "right"
            };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&sig),
                labels_string(&rs.l),
                labels_string(&dup.l)
            )));
        }
        right.insert(value::key(&sig), rs);
    }
    // Per match group: None for one-to-one, the result label sets so far
    // for many-to-one.
    let mut matched: HashMap<usize, Option<std::collections::HashSet<usize>>> = HashMap::new();
    let mut out = Vec::new();
    for ls in lhs {
        let sig = m.sig(ev, c, &ls.l);
        let Some(rs) = right.get(&value::key(&sig)) else {
            continue;
        };
        let (vl, vr) = if m.card == Card::OneToMany {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut v, keep) = elem(op, vl, vr);
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let rs_l = rs.l.clone();
        let mut metric = m.result(ev, c, op, &ls.l, &rs_l);
        if return_bool {
            metric = ev.drop_name(&metric);
        }
        let entry = matched.get_mut(&value::key(&sig));
        if m.card == Card::OneToOne {
            if entry.is_some() {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
            matched.insert(value::key(&sig), None);
        } else {
            match entry {
                Some(Some(set)) => {
                    if !set.insert(value::key(&metric)) {
                        return Err(Error::Execution(
                            "multiple matches for labels: grouping labels must ensure unique matches"
                                .into(),
                        ));
                    }
                }
                _ => {
                    let mut set = std::collections::HashSet::new();
                    set.insert(value::key(&metric));
                    matched.insert(value::key(&sig), Some(set));
                }
            }
        }
        out.push(S { l: metric, v });
    }
    Ok(out)
}
