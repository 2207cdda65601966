//! serde over a [`Node`] tree: a YAML config file read into the same serde
//! types as its TOML counterpart (one config model, two readers), with
//! errors that keep the line and the dotted key of what was wrong
//! (`scrape_configs[1].static_configs[0].labels: invalid type …`).
//!
//! Scalars are read as yaml.v2 (the reader of Prometheus and
//! Alertmanager) reads them into Go fields: any scalar's text into a
//! string, `true`/`yes`/`on` and their negations into a bool, decimal
//! numbers into numbers, and an empty value into an empty string, list,
//! map or struct (`None` for an option).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Node, Value};

/// An error reading a tree into a type: its line (when known), the dotted
/// key it is at (empty for the document), and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// 1-based line of the node the error is about.
    pub line: Option<usize>,
    /// Dotted key with list indexes: `scrape_configs[0].job_name`.
    pub path: String,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            line: None,
            path: String::new(),
            msg: msg.to_string(),
        }
    }
}

impl Error {
    /// Places an error found inside `node`, reached by `segment` (`key` or
    /// `[i]`): the node's line if none is known yet, the segment in front
    /// of the path.
    fn within(mut self, segment: &str, node: &Node) -> Error {
        self.line.get_or_insert(node.line);
        self.path = if self.path.is_empty() {
            segment.to_string()
        } else if self.path.starts_with('[') {
            format!("{segment}{}", self.path)
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }
}

/// Parses `src` and reads it into `T`.
pub fn from_str<T: de::DeserializeOwned>(src: &str) -> Result<T, Error> {
    let node = super::parse(src).map_err(|e| Error {
        line: Some(e.line),
        path: String::new(),
        msg: e.msg,
    })?;
    from_node(&node)
}

/// Reads a parsed tree into `T`.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    T::deserialize(NodeDe(node)).map_err(|mut e| {
        e.line.get_or_insert(node.line);
        e
    })
}

/// The line of a dotted key (`scrape_configs[2].relabel_configs[0].regex`)
/// in a tree: the key's own line, else that of the deepest part of the
/// path that exists. `None` when not even the first part does.
pub fn line_of(root: &Node, dotted: &str) -> Option<usize> {
    let mut node = root;
    let mut found = None;
    for part in dotted.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            let Value::Map(entries) = &node.value else {
                return found;
            };
            let Some((_, n)) = entries.iter().find(|(k, _)| k == name) else {
                return found;
            };
            node = n;
            found = Some(node.line);
        }
        for idx in indexes.split('[').skip(1) {
            let Some(i) = idx.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) else {
                return found;
            };
            let Value::Seq(items) = &node.value else {
                return found;
            };
            let Some(n) = items.get(i) else {
                return found;
            };
            node = n;
            found = Some(node.line);
        }
    }
    found
}

struct NodeDe<'de>(&'de Node);

impl NodeDe<'_> {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match &self.0.value {
            Value::Null => de::Unexpected::Unit,
            Value::Str(s) => de::Unexpected::Str(s),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn scalar(&self, exp: &dyn de::Expected) -> Result<&str, Error> {
        match &self.0.value {
            Value::Str(s) => Ok(s),
            _ => Err(de::Error::invalid_type(self.unexpected(), exp)),
        }
    }
}

/// yaml.v2's booleans (YAML 1.1).
fn boolean(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

macro_rules! number {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            let s = self.scalar(&v)?;
            match s.replace('_', "").parse::<$t>() {
                Ok(n) => v.$visit(n),
                Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(s), &v)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => v.visit_unit(),
            Value::Str(s) => v.visit_borrowed_str(s),
            Value::Seq(items) => v.visit_seq(Seq {
                items: items.iter().enumerate(),
            }),
            Value::Map(entries) => v.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let s = self.scalar(&v)?;
        match boolean(s) {
            Some(b) => v.visit_bool(b),
            None => Err(de::Error::invalid_value(de::Unexpected::Str(s), &v)),
        }
    }

    number!(
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64,
        deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64,
        deserialize_f32 visit_f32 f32, deserialize_f64 visit_f64 f64
    );

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => v.visit_borrowed_str(""),
            Value::Str(s) => v.visit_borrowed_str(s),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.value {
            Value::Null => v.visit_unit(),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => v.visit_seq(Seq {
                items: [].iter().enumerate(),
            }),
            Value::Seq(items) => v.visit_seq(Seq {
                items: items.iter().enumerate(),
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => v.visit_map(Map {
                entries: [].iter(),
                value: None,
            }),
            Value::Map(entries) => v.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Str(s) => v.visit_enum(s.as_str().into_deserializer()),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

struct Seq<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
}

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((i, n)) => seed
                .deserialize(NodeDe(n))
                .map(Some)
                .map_err(|e| e.within(&format!("[{i}]"), n)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (String, Node)>,
    value: Option<(&'de str, &'de Node)>,
}

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((k, n)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((k, n));
        seed.deserialize(k.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: Error| e.within(k, n))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((k, n)) = self.value.take() else {
            return Err(de::Error::custom("a value without its key"));
        };
        seed.deserialize(NodeDe(n)).map_err(|e| e.within(k, n))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Job {
        job_name: String,
        honor_labels: Option<bool>,
        sample_limit: u64,
        static_configs: Vec<Group>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Group {
        targets: Vec<String>,
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct File {
        scrape_configs: Vec<Job>,
    }

    #[test]
    fn reads_a_scrape_config_with_yaml_v2_scalars() {
        let src = "scrape_configs:\n  - job_name: node\n    honor_labels: yes\n    sample_limit: 1_000\n    static_configs:\n      - targets: ['pi1:9100',\n                  pi2:9100]\n        labels: {rack: 3}\n  - job_name: empty\n    static_configs:\n";
        let f: File = from_str(src).unwrap();
        assert_eq!(f.scrape_configs.len(), 2);
        let j = &f.scrape_configs[0];
        assert_eq!(j.honor_labels, Some(true));
        assert_eq!(j.sample_limit, 1000);
        assert_eq!(j.static_configs[0].targets, ["pi1:9100", "pi2:9100"]);
        assert_eq!(j.static_configs[0].labels["rack"], "3");
        assert!(f.scrape_configs[1].static_configs.is_empty());
    }

    #[test]
    fn errors_name_line_and_dotted_key() {
        for (src, line, path, what) in [
            (
                "scrape_configs:\n  - job_name: a\n    scrape_intervall: 1m\n",
                3,
                "scrape_configs[0].scrape_intervall",
                "unknown field",
            ),
            (
                "scrape_configs:\n  - job_name: a\n  - job_name: b\n    honor_labels: maybe\n",
                4,
                "scrape_configs[1].honor_labels",
                "invalid value",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: x:1\n",
                4,
                "scrape_configs[0].static_configs[0].targets",
                "invalid type",
            ),
            ("scrape_configs: 3\n", 1, "scrape_configs", "invalid type"),
        ] {
            let e = from_str::<File>(src).expect_err(src);
            assert_eq!(
                (e.line, e.path.as_str()),
                (Some(line), path),
                "{src:?}: {e}"
            );
            assert!(e.msg.contains(what), "{src:?}: {e}");
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let src = "base: &b\n  honor_labels: true\n  sample_limit: 5\nscrape_configs:\n  - <<: *b\n    job_name: a\n    sample_limit: 7\n";
        let doc = super::super::parse(src).unwrap();
        let Value::Map(e) = &doc.value else { panic!() };
        let jobs: Vec<Job> = from_node(&e[1].1).unwrap();
        assert_eq!(jobs[0].honor_labels, Some(true));
        assert_eq!(jobs[0].sample_limit, 7);
        assert_eq!(jobs[0].job_name, "a");
    }

    #[test]
    fn line_of_dotted_keys() {
        let src = "a:\n  b:\n    - x: 1\n    - x: 2\n      y: 3\n";
        let doc = super::super::parse(src).unwrap();
        assert_eq!(line_of(&doc, "a.b[1].y"), Some(5));
        assert_eq!(line_of(&doc, "a.b[1].z"), Some(4));
        assert_eq!(line_of(&doc, "a.b[7].y"), Some(2));
        assert_eq!(line_of(&doc, "q"), None);
    }
}
