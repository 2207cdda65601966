//! Go's `html/template` escaping, as Alertmanager applies it to an email's
//! `html`: every printed value is escaped for where it lands in the HTML
//! (element text, a quoted or unquoted attribute, a URL attribute before
//! or after its `?`, `style`, `<script>`, a tag's attribute name), HTML
//! comments in the template text are dropped and a stray `<` in text
//! becomes `&lt;`. `safeHtml` values pass unescaped in element text.
//!
//! Go works out each action's context when the template is first run,
//! from the template text alone; here the context is followed along the
//! template text as it is written out, which gives the same contexts for
//! the templates Go accepts (Go refuses branches that end in different
//! contexts; this follows the branch taken). Inside `<script>`, `on*`
//! attributes and `<style>` the context is coarser than Go's: values are
//! JavaScript values and CSS values (not JavaScript or CSS strings,
//! regular expressions or `url(…)`).

/// Where template text has got to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    Tag,
    AttrName,
    AfterName,
    BeforeValue,
    /// A plain attribute value.
    Attr,
    Url,
    Css,
    Js,
    Srcset,
    /// `<title>`, `<textarea>`.
    Rcdata,
    /// Inside `<!-- -->`.
    Comment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delim {
    None,
    Double,
    Single,
    SpaceOrTagEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UrlPart {
    None,
    PreQuery,
    QueryOrFrag,
}

/// What an attribute's value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Url,
    Css,
    Js,
    Srcset,
}

/// Elements whose content is not HTML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    None,
    Script,
    Style,
    Textarea,
    Title,
}

/// html/template's context.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    state: State,
    delim: Delim,
    url: UrlPart,
    attr: Kind,
    element: Element,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            state: State::Text,
            delim: Delim::None,
            url: UrlPart::None,
            attr: Kind::Plain,
            element: Element::None,
        }
    }
}

/// The escaping functions html/template inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Esc {
    Html,
    Attr,
    Rcdata,
    Nospace,
    UrlFilter,
    UrlNormalizer,
    UrlEscaper,
    CssValue,
    JsVal,
    NameFilter,
    Comment,
}

impl Esc {
    /// The predefined escaper (`html`, `urlquery`) doing the same work.
    pub(super) fn predefined(self) -> Option<&'static str> {
        match self {
            Esc::Html | Esc::Attr | Esc::Rcdata => Some("html"),
            Esc::UrlEscaper | Esc::UrlNormalizer => Some("urlquery"),
            _ => None,
        }
    }
}

const FAILSAFE: &str = "ZgotmplZ";

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// The kind of an attribute's value, by its (lower-case) name.
fn attr_kind(name: &str) -> Kind {
    let name = name.strip_prefix("data-").unwrap_or(name);
    if let Some((prefix, short)) = name.split_once(':') {
        if prefix == "xmlns" {
            return Kind::Url;
        }
        return attr_kind(short);
    }
    match name {
        "action" | "background" | "cite" | "codebase" | "data" | "formaction" | "href" | "icon"
        | "longdesc" | "manifest" | "poster" | "profile" | "src" | "usemap" | "xmlns" => {
            return Kind::Url
        }
        "srcset" => return Kind::Srcset,
        "style" => return Kind::Css,
        "accept" | "alt" | "class" | "id" | "name" | "title" | "type" | "value" | "width"
        | "height" | "lang" | "dir" | "align" | "valign" | "bgcolor" | "color" | "border"
        | "cellpadding" | "cellspacing" | "colspan" | "rowspan" | "target" | "rel" | "role" => {
            return Kind::Plain
        }
        _ => {}
    }
    if name.starts_with("on") {
        return Kind::Js;
    }
    if name.contains("src") || name.contains("uri") || name.contains("url") {
        return Kind::Url;
    }
    Kind::Plain
}

/// A tag name at `s[i..]`: its end.
fn tag_name_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < s.len() {
        let x = s[j];
        if !(x.is_ascii_alphabetic() || (x.is_ascii_digit() && j != i) || (x == b':' && j != i)) {
            break;
        }
        j += 1;
    }
    j
}

/// The end of an attribute name at `s[i..]`, or an error (a quote or `<`).
fn attr_name_end(s: &[u8], i: usize) -> Result<usize, String> {
    for (j, &b) in s.iter().enumerate().skip(i) {
        if space(b) || b == b'=' || b == b'>' {
            return Ok(j);
        }
        if matches!(b, b'\'' | b'"' | b'<') {
            return Err(format!(
                "{:?} in attribute name: {:?}",
                b as char,
                String::from_utf8_lossy(&s[i..(j + 1).min(s.len())])
            ));
        }
    }
    Ok(s.len())
}

/// The start of the end tag of `el` in `s` (`</script`, any case, then a
/// space, `/`, `>` or the end).
fn end_tag(s: &[u8], el: Element) -> Option<usize> {
    let name: &[u8] = match el {
        Element::Script => b"script",
        Element::Style => b"style",
        Element::Textarea => b"textarea",
        Element::Title => b"title",
        Element::None => return None,
    };
    let mut i = 0;
    while i + 2 + name.len() <= s.len() {
        if s[i] == b'<'
            && s[i + 1] == b'/'
            && s[i + 2..i + 2 + name.len()].eq_ignore_ascii_case(name)
        {
            let after = s.get(i + 2 + name.len());
            if after.is_none_or(|&b| space(b) || b == b'/' || b == b'>') {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

impl Ctx {
    /// Follows literal template text `t`: what is written for it.
    pub(super) fn text(&mut self, t: &str) -> Result<String, String> {
        let s = t.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            i = self.step(s, i, &mut out)?;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// One transition from `s[i..]`: the new position, written to `out`.
    fn step(&mut self, s: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
        // Inside an attribute value: up to its end.
        if self.delim != Delim::None {
            let end = match self.delim {
                Delim::Double => s[i..].iter().position(|&b| b == b'"'),
                Delim::Single => s[i..].iter().position(|&b| b == b'\''),
                _ => s[i..].iter().position(|&b| space(b) || b == b'>'),
            };
            let stop = end.map_or(s.len(), |e| i + e);
            if self.state == State::Url {
                let piece = &s[i..stop];
                if piece.iter().any(|&b| b == b'#' || b == b'?') {
                    self.url = UrlPart::QueryOrFrag;
                } else if self.url == UrlPart::None && piece.iter().any(|&b| !space(b)) {
                    self.url = UrlPart::PreQuery;
                }
            }
            out.extend_from_slice(&s[i..stop]);
            let Some(_) = end else {
                return Ok(s.len());
            };
            let quoted = matches!(self.delim, Delim::Double | Delim::Single);
            if quoted {
                out.push(s[stop]);
            }
            *self = Ctx {
                state: State::Tag,
                element: self.element,
                ..Ctx::default()
            };
            return Ok(stop + usize::from(quoted));
        }
        match self.state {
            State::Text => self.in_text(s, i, out),
            State::Rcdata | State::Js | State::Css => {
                let stop = end_tag(&s[i..], self.element).map(|e| i + e);
                let piece = &s[i..stop.unwrap_or(s.len())];
                if self.state == State::Rcdata {
                    escape_lt(piece, out);
                } else {
                    out.extend_from_slice(piece);
                }
                match stop {
                    Some(e) => {
                        *self = Ctx::default();
                        Ok(e)
                    }
                    None => Ok(s.len()),
                }
            }
            State::Comment => match find(&s[i..], b"-->") {
                Some(e) => {
                    self.state = State::Text;
                    Ok(i + e + 3)
                }
                None => Ok(s.len()),
            },
            State::Tag => {
                let mut j = i;
                while j < s.len() && space(s[j]) {
                    j += 1;
                }
                out.extend_from_slice(&s[i..j]);
                if j == s.len() {
                    return Ok(j);
                }
                if s[j] == b'>' {
                    out.push(b'>');
                    *self = Ctx {
                        state: match self.element {
                            Element::Script => State::Js,
                            Element::Style => State::Css,
                            Element::Textarea | Element::Title => State::Rcdata,
                            Element::None => State::Text,
                        },
                        element: self.element,
                        ..Ctx::default()
                    };
                    return Ok(j + 1);
                }
                let k = attr_name_end(s, j)?;
                if k == j {
                    return Err(format!(
                        "expected space, attr name, or end of tag, but got {:?}",
                        String::from_utf8_lossy(&s[j..])
                    ));
                }
                let name = String::from_utf8_lossy(&s[j..k]).to_ascii_lowercase();
                self.attr = if self.element == Element::Script && name == "type" {
                    Kind::Plain
                } else {
                    attr_kind(&name)
                };
                self.state = if k == s.len() {
                    State::AttrName
                } else {
                    State::AfterName
                };
                out.extend_from_slice(&s[j..k]);
                Ok(k)
            }
            State::AttrName => {
                let k = attr_name_end(s, i)?;
                if k != s.len() {
                    self.state = State::AfterName;
                }
                out.extend_from_slice(&s[i..k]);
                Ok(k)
            }
            State::AfterName => {
                let mut j = i;
                while j < s.len() && space(s[j]) {
                    j += 1;
                }
                out.extend_from_slice(&s[i..j]);
                if j == s.len() {
                    return Ok(j);
                }
                if s[j] != b'=' {
                    // A valueless attribute.
                    self.state = State::Tag;
                    return Ok(j);
                }
                out.push(b'=');
                self.state = State::BeforeValue;
                Ok(j + 1)
            }
            State::BeforeValue => {
                let mut j = i;
                while j < s.len() && space(s[j]) {
                    j += 1;
                }
                out.extend_from_slice(&s[i..j]);
                if j == s.len() {
                    return Ok(j);
                }
                let (delim, skip) = match s[j] {
                    b'"' => (Delim::Double, 1),
                    b'\'' => (Delim::Single, 1),
                    _ => (Delim::SpaceOrTagEnd, 0),
                };
                out.extend_from_slice(&s[j..j + skip]);
                self.start_value(delim);
                Ok(j + skip)
            }
            // Values inside attributes are handled above.
            State::Attr | State::Url | State::Srcset => {
                out.extend_from_slice(&s[i..]);
                Ok(s.len())
            }
        }
    }

    fn start_value(&mut self, delim: Delim) {
        self.state = match self.attr {
            Kind::Plain => State::Attr,
            Kind::Url => State::Url,
            Kind::Css => State::Css,
            Kind::Js => State::Js,
            Kind::Srcset => State::Srcset,
        };
        self.delim = delim;
        self.url = UrlPart::None;
        self.attr = Kind::Plain;
    }

    /// Element text: up to the next tag or comment; stray `<` escaped.
    fn in_text(&mut self, s: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
        let mut k = i;
        loop {
            let Some(lt) = s[k..].iter().position(|&b| b == b'<').map(|p| k + p) else {
                escape_lt(&s[i..], out);
                return Ok(s.len());
            };
            if s[lt..].starts_with(b"<!--") {
                escape_lt(&s[i..lt], out);
                self.state = State::Comment;
                return Ok(lt + 4);
            }
            let mut j = lt + 1;
            let end = s.get(j) == Some(&b'/');
            if end {
                j += 1;
            }
            let name_end = tag_name_end(s, j);
            if name_end != j {
                escape_lt(&s[i..lt], out);
                out.extend_from_slice(&s[lt..name_end]);
                let name = String::from_utf8_lossy(&s[j..name_end]).to_ascii_lowercase();
                self.state = State::Tag;
                self.element = if end {
                    Element::None
                } else {
                    match name.as_str() {
                        "script" => Element::Script,
                        "style" => Element::Style,
                        "textarea" => Element::Textarea,
                        "title" => Element::Title,
                        _ => Element::None,
                    }
                };
                return Ok(name_end);
            }
            k = lt + 1;
            if k >= s.len() {
                escape_lt(&s[i..], out);
                return Ok(s.len());
            }
        }
    }

    /// The escapers for a value printed here (html/template's
    /// `escapeAction`); the context moves past an empty value first.
    pub(super) fn escapers(&mut self) -> Result<Vec<Esc>, String> {
        match self.state {
            State::Tag => self.state = State::AttrName,
            State::BeforeValue => self.start_value(Delim::SpaceOrTagEnd),
            State::AfterName => {
                self.state = State::AttrName;
                self.attr = Kind::Plain;
            }
            _ => {}
        }
        let mut s = match self.state {
            State::Url => match self.url {
                UrlPart::None => vec![Esc::UrlFilter, Esc::UrlNormalizer],
                UrlPart::PreQuery => vec![Esc::UrlNormalizer],
                UrlPart::QueryOrFrag => vec![Esc::UrlEscaper],
            },
            State::Srcset => vec![Esc::UrlFilter, Esc::UrlNormalizer],
            State::Js => vec![Esc::JsVal],
            State::Css => vec![Esc::CssValue],
            State::Text => vec![Esc::Html],
            State::Rcdata => vec![Esc::Rcdata],
            State::Attr => vec![],
            State::AttrName | State::Tag | State::AfterName | State::BeforeValue => {
                self.state = State::AttrName;
                vec![Esc::NameFilter]
            }
            State::Comment => vec![Esc::Comment],
        };
        match self.delim {
            Delim::None => {}
            Delim::SpaceOrTagEnd => s.push(Esc::Nospace),
            _ => {
                if s.last() != Some(&Esc::Comment) {
                    s.push(Esc::Attr);
                }
            }
        }
        Ok(s)
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Text with each `<` (not starting a `<!DOCTYPE`) as `&lt;`.
fn escape_lt(s: &[u8], out: &mut Vec<u8>) {
    for (i, &b) in s.iter().enumerate() {
        let doctype = s
            .get(i..i + 9)
            .is_some_and(|d| d.eq_ignore_ascii_case(b"<!DOCTYPE"));
        if b == b'<' && !doctype {
            out.extend_from_slice(b"&lt;");
        } else {
            out.push(b);
        }
    }
}

/// Applies one escaper to `s` (`html`: it is `safeHtml` content).
pub(super) fn apply(e: Esc, s: &str, html: bool) -> String {
    match e {
        Esc::Html if html => s.to_string(),
        Esc::Html => replace(s, &HTML),
        Esc::Attr if html => replace(&strip_tags(s), &HTML_NORM),
        Esc::Attr => replace(s, &HTML),
        Esc::Rcdata if html => replace(s, &HTML_NORM),
        Esc::Rcdata => replace(s, &HTML),
        Esc::Nospace => {
            let r = if html {
                replace(&strip_tags(s), &NOSPACE_NORM)
            } else {
                replace(s, &NOSPACE)
            };
            if r.is_empty() {
                FAILSAFE.into()
            } else {
                r
            }
        }
        Esc::UrlFilter => {
            if safe_url(s) {
                s.to_string()
            } else {
                format!("#{FAILSAFE}")
            }
        }
        Esc::UrlNormalizer => url_process(s, true),
        Esc::UrlEscaper => url_process(s, false),
        Esc::CssValue => css_value(s),
        Esc::JsVal => js_val(s),
        Esc::NameFilter => name_filter(s),
        Esc::Comment => String::new(),
    }
}

/// A value as the JavaScript escaper takes it: a string, or a number,
/// boolean or nil as such.
pub(super) enum JsArg<'a> {
    Str(&'a str),
    Raw(&'a str),
}

/// html/template's `jsValEscaper`: a JSON value, padded by spaces where
/// it could run into a keyword.
pub(super) fn js_value(v: JsArg<'_>) -> String {
    match v {
        JsArg::Str(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    }
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        JsArg::Raw(r) => format!(" {r} "),
    }
}

fn js_val(s: &str) -> String {
    js_value(JsArg::Str(s))
}

/// Replacement tables: (byte, replacement).
type Table = [(char, &'static str)];

const HTML: [(char, &str); 7] = [
    ('\0', "\u{FFFD}"),
    ('"', "&#34;"),
    ('&', "&amp;"),
    ('\'', "&#39;"),
    ('+', "&#43;"),
    ('<', "&lt;"),
    ('>', "&gt;"),
];
const HTML_NORM: [(char, &str); 6] = [
    ('\0', "\u{FFFD}"),
    ('"', "&#34;"),
    ('\'', "&#39;"),
    ('+', "&#43;"),
    ('<', "&lt;"),
    ('>', "&gt;"),
];
const NOSPACE: [(char, &str); 15] = [
    ('\0', "&#xfffd;"),
    ('\t', "&#9;"),
    ('\n', "&#10;"),
    ('\x0b', "&#11;"),
    ('\x0c', "&#12;"),
    ('\r', "&#13;"),
    (' ', "&#32;"),
    ('"', "&#34;"),
    ('&', "&amp;"),
    ('\'', "&#39;"),
    ('+', "&#43;"),
    ('<', "&lt;"),
    ('=', "&#61;"),
    ('>', "&gt;"),
    ('`', "&#96;"),
];
const NOSPACE_NORM: [(char, &str); 14] = [
    ('\0', "&#xfffd;"),
    ('\t', "&#9;"),
    ('\n', "&#10;"),
    ('\x0b', "&#11;"),
    ('\x0c', "&#12;"),
    ('\r', "&#13;"),
    (' ', "&#32;"),
    ('"', "&#34;"),
    ('\'', "&#39;"),
    ('+', "&#43;"),
    ('<', "&lt;"),
    ('=', "&#61;"),
    ('>', "&gt;"),
    ('`', "&#96;"),
];

fn replace(s: &str, table: &Table) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match table.iter().find(|(k, _)| *k == c) {
            Some((_, r)) => out.push_str(r),
            None => out.push(c),
        }
    }
    out
}

/// The text of HTML content, tags removed (an approximation of Go's
/// `stripTags` for `safeHtml` values in attributes).
fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Go's `isSafeURL`: no scheme, or http, https or mailto.
fn safe_url(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') => ["http", "https", "mailto"]
            .iter()
            .any(|ok| scheme.eq_ignore_ascii_case(ok)),
        _ => true,
    }
}

/// html/template's URL normalizer (`norm`: reserved characters and valid
/// `%xx` kept) and escaper (everything but unreserved encoded).
fn url_process(s: &str, norm: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' => norm,
            b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                norm && i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit()
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02x}"));
        }
    }
    out
}

/// html/template's `cssValueFilter`: values that cannot break out of a
/// CSS value, else `ZgotmplZ` (CSS escapes are refused rather than
/// decoded).
fn css_value(s: &str) -> String {
    let b = s.as_bytes();
    let mut id = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            0 | b'"' | b'\'' | b'(' | b')' | b'/' | b';' | b'@' | b'[' | b'\\' | b']' | b'`'
            | b'{' | b'}' | b'<' | b'>' => return FAILSAFE.into(),
            b'-' if i != 0 && b[i - 1] == b'-' => return FAILSAFE.into(),
            c if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' => {
                id.push(c.to_ascii_lowercase())
            }
            _ => {}
        }
    }
    let id = String::from_utf8_lossy(&id);
    if id.contains("expression") || id.contains("mozbinding") {
        return FAILSAFE.into();
    }
    s.to_string()
}

/// html/template's `htmlNameFilter`: a plain attribute name, else
/// `ZgotmplZ`.
fn name_filter(s: &str) -> String {
    let s = s.to_lowercase();
    if s.is_empty()
        || attr_kind(&s) != Kind::Plain
        || !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return FAILSAFE.into();
    }
    s
}

/// text/template's `html` function (`HTMLEscapeString`).
pub(super) fn html_escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// text/template's `js` function (`JSEscapeString`).
pub(super) fn js_escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escapers chosen at the end of `text`, and what it wrote.
    fn at(text: &str) -> (Vec<Esc>, String) {
        let mut c = Ctx::default();
        let out = c.text(text).expect("text");
        (c.escapers().expect("escapers"), out)
    }

    #[test]
    fn contexts_as_html_template_finds_them() {
        assert_eq!(at("<p>").0, [Esc::Html]);
        assert_eq!(
            at("<a href=\"").0,
            [Esc::UrlFilter, Esc::UrlNormalizer, Esc::Attr]
        );
        assert_eq!(at("<a href=\"http://x/?q=").0, [Esc::UrlEscaper, Esc::Attr]);
        assert_eq!(at("<a href=\"/path/").0, [Esc::UrlNormalizer, Esc::Attr]);
        assert_eq!(
            at("<a href=").0,
            [Esc::UrlFilter, Esc::UrlNormalizer, Esc::Nospace]
        );
        assert_eq!(at("<td class='").0, [Esc::Attr]);
        assert_eq!(at("<td style=\"color: ").0, [Esc::CssValue, Esc::Attr]);
        assert_eq!(at("<title>").0, [Esc::Rcdata]);
        assert_eq!(at("<script>var x = ").0, [Esc::JsVal]);
        assert_eq!(at("<script>x</script><b>").0, [Esc::Html]);
        assert_eq!(at("<a href=\"x\" title=\"").0, [Esc::Attr]);
        assert_eq!(at("<td ").0, [Esc::NameFilter]);
        let (e, out) = at("a < b <!-- note --> <br/> c");
        assert_eq!(e, [Esc::Html]);
        assert_eq!(out, "a &lt; b  <br/> c");
        assert_eq!(at("<!DOCTYPE html><p>").1, "<!DOCTYPE html><p>");
    }

    #[test]
    fn escapers_as_go() {
        assert_eq!(
            apply(Esc::Html, "<a href=\"x\">'&+", false),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#43;"
        );
        assert_eq!(apply(Esc::Html, "<b>", true), "<b>");
        assert_eq!(
            apply(Esc::UrlFilter, "javascript:alert(1)", false),
            "#ZgotmplZ"
        );
        assert_eq!(
            apply(
                Esc::UrlNormalizer,
                "http://h/graph?g0.expr=up{a=\"b c\"}&x=%41",
                true
            ),
            "http://h/graph?g0.expr=up%7ba=%22b%20c%22%7d&x=%41"
        );
        assert_eq!(apply(Esc::UrlEscaper, "a b&c/d", false), "a%20b%26c%2fd");
        assert_eq!(apply(Esc::Nospace, "a b", false), "a&#32;b");
        assert_eq!(apply(Esc::CssValue, "red", false), "red");
        assert_eq!(apply(Esc::CssValue, "red;x", false), "ZgotmplZ");
        assert_eq!(apply(Esc::JsVal, "a\"<", false), "\"a\\\"\\u003c\"");
        assert_eq!(html_escape_string("<'&\">"), "&lt;&#39;&amp;&#34;&gt;");
    }
}
