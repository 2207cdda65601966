//! HAProxy's stats CSV, read the way haproxy_exporter's Go `encoding/csv`
//! reader (with `Comment = '#'`) reads it, so the same bodies give the same
//! rows and the same parse failures.
//!
//! Rules kept from Go: lines starting with `#` and empty lines are skipped;
//! `\r\n` counts as `\n`; a field may be quoted (`""` inside is a quote, and
//! it may run over several lines); a `"` inside an unquoted field, or
//! anything but `,` or the end of the line after a closing quote, is an
//! error, and the rest of that line is dropped; every record must have as
//! many fields as the first one. One difference: Go takes the expected
//! field count from the first record even when that record is itself
//! broken (then every later row fails); here the first *well-formed*
//! record sets it, so one garbled first line does not cost the whole body.
//!
//! Never panics: every index comes from a search in the same slice.

use std::borrow::Cow;
use std::fmt;

/// Why one record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsvError {
    /// A `"` in a field that does not start with one.
    BareQuote {
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        col: usize,
    },
    /// A closing quote followed by something else, or a quoted field that
    /// never ends.
    Quote {
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        col: usize,
    },
    /// Not as many fields as the first record.
    FieldCount {
        /// 1-based line where the record starts.
        line: usize,
        /// Fields of the first record.
        want: usize,
        /// Fields of this one.
        got: usize,
    },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::BareQuote { line, col } => {
                write!(f, "line {line}, column {col}: bare \" in non-quoted field")
            }
            CsvError::Quote { line, col } => write!(
                f,
                "line {line}, column {col}: extraneous or missing \" in quoted field"
            ),
            CsvError::FieldCount { line, want, got } => write!(
                f,
                "line {line}: wrong number of fields ({got}, the first row has {want})"
            ),
        }
    }
}

/// Reads records from a whole body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    line: usize,
    fields: Option<usize>,
    header: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `body`.
    pub(crate) fn new(body: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: body,
            line: 0,
            fields: None,
            header: false,
        }
    }

    /// Whether HAProxy's `# pxname,svname,...` header line was seen so far.
    pub(crate) fn saw_header(&self) -> bool {
        self.header
    }

    /// The next line without its `\n` (and a `\r` before it or at the end
    /// of the body), and whether it had a `\n`.
    fn next_line(&mut self) -> Option<(&'a [u8], bool)> {
        if self.rest.is_empty() {
            return None;
        }
        let (mut line, nl) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let (l, r) = self.rest.split_at(i);
                self.rest = r.get(1..).unwrap_or_default();
                (l, true)
            }
            None => (std::mem::take(&mut self.rest), false),
        };
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        self.line += 1;
        Some((line, nl))
    }

    /// Fields of one record starting at `line`; consumes continuation lines
    /// of quoted fields.
    fn fields(&mut self, mut line: &'a [u8], mut nl: bool) -> Result<Vec<Cow<'a, str>>, CsvError> {
        let mut fields = Vec::new();
        let mut col = 1;
        loop {
            if line.first() != Some(&b'"') {
                let comma = line.iter().position(|&b| b == b',');
                let field = &line[..comma.unwrap_or(line.len())];
                if let Some(j) = field.iter().position(|&b| b == b'"') {
                    return Err(CsvError::BareQuote {
                        line: self.line,
                        col: col + j,
                    });
                }
                fields.push(String::from_utf8_lossy(field));
                match comma {
                    Some(i) => {
                        line = line.get(i + 1..).unwrap_or_default();
                        col += i + 1;
                    }
                    None => return Ok(fields),
                }
                continue;
            }
            // A quoted field.
            let mut buf = Vec::new();
            line = line.get(1..).unwrap_or_default();
            col += 1;
            loop {
                if let Some(i) = line.iter().position(|&b| b == b'"') {
                    buf.extend_from_slice(&line[..i]);
                    line = line.get(i + 1..).unwrap_or_default();
                    col += i + 1;
                    match line.first() {
                        Some(b'"') => {
                            buf.push(b'"');
                            line = line.get(1..).unwrap_or_default();
                            col += 1;
                        }
                        Some(b',') => {
                            line = line.get(1..).unwrap_or_default();
                            col += 1;
                            fields.push(Cow::Owned(String::from_utf8_lossy(&buf).into_owned()));
                            break;
                        }
                        None => {
                            fields.push(Cow::Owned(String::from_utf8_lossy(&buf).into_owned()));
                            return Ok(fields);
                        }
                        Some(_) => {
                            return Err(CsvError::Quote {
                                line: self.line,
                                col: col - 1,
                            })
                        }
                    }
                } else if !line.is_empty() || nl {
                    // The field goes on over the next line.
                    buf.extend_from_slice(line);
                    if nl {
                        buf.push(b'\n');
                    }
                    col += line.len();
                    match self.next_line() {
                        Some((l, n)) => {
                            line = l;
                            nl = n;
                            col = 1;
                        }
                        None => {
                            return Err(CsvError::Quote {
                                line: self.line,
                                col,
                            })
                        }
                    }
                } else {
                    return Err(CsvError::Quote {
                        line: self.line,
                        col,
                    });
                }
            }
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = (usize, Result<Vec<Cow<'a, str>>, CsvError>);

    fn next(&mut self) -> Option<Self::Item> {
        let (line, nl) = loop {
            let (line, nl) = self.next_line()?;
            if line.first() == Some(&b'#') {
                if line.starts_with(b"# pxname,") {
                    self.header = true;
                }
                continue;
            }
            if !line.is_empty() {
                break (line, nl);
            }
        };
        let start = self.line;
        let r = self.fields(line, nl).and_then(|f| match self.fields {
            None => {
                self.fields = Some(f.len());
                Ok(f)
            }
            Some(want) if want == f.len() => Ok(f),
            Some(want) => Err(CsvError::FieldCount {
                line: start,
                want,
                got: f.len(),
            }),
        });
        Some((start, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Record<'a> = (usize, Result<Vec<Cow<'a, str>>, CsvError>);

    fn all(s: &str) -> Vec<Record<'_>> {
        Reader::new(s.as_bytes()).collect()
    }

    fn row<'a>(line: usize, f: &[&'a str]) -> Record<'a> {
        (line, Ok(f.iter().map(|&s| Cow::Borrowed(s)).collect()))
    }

    #[test]
    fn comments_empty_lines_and_crlf_are_skipped() {
        let mut r = Reader::new(b"# pxname,svname,\r\n\r\na,b,\r\n\nc,d,");
        assert_eq!(r.next(), Some(row(3, &["a", "b", ""])));
        assert!(r.saw_header());
        assert_eq!(r.next(), Some(row(5, &["c", "d", ""])));
        assert_eq!(r.next(), None);
    }

    #[test]
    fn quoted_fields_as_go_reads_them() {
        assert_eq!(
            all("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,y,z\n"),
            vec![
                row(1, &["a,b", "say \"hi\"", "two\nlines"]),
                row(3, &["x", "y", "z"]),
            ]
        );
        assert_eq!(all("\"\",x\n"), vec![row(1, &["", "x"])]);
    }

    #[test]
    fn errors_drop_the_line_and_reading_goes_on() {
        let got = all("a,b\nc\"d,e\n\"f\"g,h\ni,j\nk\n\"open,l\n");
        assert_eq!(
            got,
            vec![
                row(1, &["a", "b"]),
                (2, Err(CsvError::BareQuote { line: 2, col: 2 })),
                (3, Err(CsvError::Quote { line: 3, col: 3 })),
                row(4, &["i", "j"]),
                (
                    5,
                    Err(CsvError::FieldCount {
                        line: 5,
                        want: 2,
                        got: 1
                    })
                ),
                (6, Err(CsvError::Quote { line: 6, col: 8 })),
            ]
        );
    }

    #[test]
    fn the_first_well_formed_record_sets_the_field_count() {
        let got = all("x\"y\na,b\nc,d\n");
        assert_eq!(got.len(), 3);
        assert!(got[0].1.is_err());
        assert_eq!(got[1], row(2, &["a", "b"]));
        assert_eq!(got[2], row(3, &["c", "d"]));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab,\"\r\n# 0";
        for len in 0..400 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let n = Reader::new(&body).count();
            assert!(n <= len);
        }
        let invalid = [0xff, 0xfe, b',', b'"', 0xc3, b'\n', 0x80];
        assert_eq!(Reader::new(&invalid).count(), 1);
    }
}
