//! A small CSV table reader: UTF-8 (with or without BOM), LF or CRLF, quoted fields; rejects
//! other encodings (e.g. GBK from Excel) with the line where the first bad byte is.

use super::InputError;
use std::path::Path;

/// Splits CSV text into records (RFC 4180: `"` quotes, `""` escapes, newlines inside quotes),
/// each with the 1-based line it starts on. Accepts LF and CRLF.
/// Records with the line each starts on.
type Records = Vec<(usize, Vec<String>)>;

fn parse_csv(text: &str) -> Result<Records, (usize, String)> {
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let mut quote_line = 0usize;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quote_line = line;
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                out.push((start_line, std::mem::take(&mut record)));
                line += 1;
                start_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err((quote_line, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start_line, record));
    }
    Ok(out)
}

/// A parsed CSV file: lower-cased headers and rows with their 1-based line numbers.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: String,
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table, InputError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| InputError::Io {
            path: p.clone(),
            source,
        })?;
        Table::parse(&bytes, &p)
    }

    pub fn parse(bytes: &[u8], path: &str) -> Result<Table, InputError> {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if let Err(e) = std::str::from_utf8(body) {
            let at = e.valid_up_to();
            let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            let hint = if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
                "it is UTF-16; save it as UTF-8"
            } else {
                "it is not UTF-8 (GBK/GB18030 from Excel?); convert it, e.g. `iconv -f GBK -t UTF-8 in.csv > out.csv`"
            };
            return Err(InputError::Line {
                path: path.into(),
                line,
                message: format!(
                    "invalid UTF-8 at byte {}: {hint}",
                    at + (bytes.len() - body.len())
                ),
            });
        }
        let text = std::str::from_utf8(body).unwrap_or_default();
        let mut records = parse_csv(text).map_err(|(line, message)| InputError::Line {
            path: path.into(),
            line,
            message,
        })?;
        if records.is_empty() {
            return Err(InputError::File {
                path: path.into(),
                message: "the file is empty (no header line)".into(),
            });
        }
        let (_, header) = records.remove(0);
        let headers: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        if headers.iter().all(|h| h.is_empty()) {
            return Err(InputError::File {
                path: path.into(),
                message: "the header line is empty".into(),
            });
        }
        let rows: Vec<(usize, Vec<String>)> = records
            .into_iter()
            .filter(|(_, r)| r.iter().any(|f| !f.trim().is_empty()))
            .map(|(l, r)| (l, r.into_iter().map(|f| f.trim().to_string()).collect()))
            .collect();
        Ok(Table {
            path: path.into(),
            headers,
            rows,
        })
    }

    /// Index of a column, or an error listing the columns the file has.
    pub fn require(&self, name: &str) -> Result<usize, InputError> {
        self.column(name).ok_or_else(|| InputError::File {
            path: self.path.clone(),
            message: format!(
                "missing column '{name}' (the file has: {})",
                self.headers.join(", ")
            ),
        })
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The first of several accepted column names.
    pub fn column_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.column(n))
    }

    /// A cell (empty when the row is short).
    pub fn cell<'a>(&self, row: &'a [String], col: usize) -> &'a str {
        row.get(col).map(String::as_str).unwrap_or("")
    }

    /// The longitude and latitude columns (`lon`/`lng`/`longitude`/`x`, `lat`/`latitude`/`y`);
    /// a missing one is an error listing the columns the file has.
    pub fn lon_lat_columns(&self) -> Result<(usize, usize), InputError> {
        let c_lon = match self.column_any(&["lon", "lng", "longitude", "x"]) {
            Some(c) => c,
            None => self.require("lon")?,
        };
        let c_lat = match self.column_any(&["lat", "latitude", "y"]) {
            Some(c) => c,
            None => self.require("lat")?,
        };
        Ok((c_lon, c_lat))
    }

    /// A WGS-84 point from the columns of [`Table::lon_lat_columns`], with an error naming the line
    /// when a value is not a number or the point is outside WGS-84.
    pub fn lon_lat(
        &self,
        line: usize,
        row: &[String],
        (c_lon, c_lat): (usize, usize),
    ) -> Result<(f64, f64), InputError> {
        let lon = self.number(line, row, c_lon)?;
        let lat = self.number(line, row, c_lat)?;
        if !((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)) {
            return Err(InputError::Line {
                path: self.path.clone(),
                line,
                message: format!("({lon}, {lat}) is outside WGS-84 (are lon and lat swapped?)"),
            });
        }
        Ok((lon, lat))
    }

    /// A numeric cell, with an error naming the line and the column.
    pub fn number(&self, line: usize, row: &[String], col: usize) -> Result<f64, InputError> {
        let v = self.cell(row, col);
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| InputError::Line {
                path: self.path.clone(),
                line,
                message: format!("column '{}' must be a number, got '{v}'", self.headers[col]),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_crlf_and_quotes() {
        let t = Table::parse(b"\xEF\xBB\xBFName,Lon,Lat\r\n\"Shanghai, PRC\",121.47,31.23\r\n\r\nNanjing,118.8,32.06\r\n", "x.csv").unwrap();
        assert_eq!(t.headers, vec!["name", "lon", "lat"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].1[0], "Shanghai, PRC");
        assert_eq!(t.rows[1].0, 4);
        assert_eq!(t.number(4, &t.rows[1].1, 1).unwrap(), 118.8);
        let t = Table::parse(b"a,b\n\"x\ny\",\"q\"\"q\"\nz,1", "m.csv").unwrap();
        assert_eq!(t.rows[0], (2, vec!["x\ny".to_string(), "q\"q".to_string()]));
        assert_eq!(t.rows[1], (4, vec!["z".to_string(), "1".to_string()]));
        assert!(Table::parse(b"a,b\n\"open,1\n", "u.csv")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
    }

    #[test]
    fn gbk_is_refused_with_its_line() {
        // "上海" in GBK on line 3.
        let bytes = b"name,lon,lat\nBeijing,116.4,39.9\n\xC9\xCF\xBA\xA3,121.47,31.23\n";
        let e = Table::parse(bytes, "gbk.csv").unwrap_err().to_string();
        assert!(e.contains("gbk.csv line 3"), "{e}");
        assert!(e.contains("GBK"), "{e}");
    }

    #[test]
    fn missing_columns_and_bad_numbers_are_named() {
        let t = Table::parse(b"name,x\nA,1\n", "t.csv").unwrap();
        let e = t.require("lat").unwrap_err().to_string();
        assert!(
            e.contains("missing column 'lat'") && e.contains("name, x"),
            "{e}"
        );
        let t = Table::parse(b"name,lon\nA,abc\n", "t.csv").unwrap();
        let e = t.number(2, &t.rows[0].1, 1).unwrap_err().to_string();
        assert!(e.contains("t.csv line 2") && e.contains("'abc'"), "{e}");
        assert!(Table::parse(b"", "e.csv").is_err());
    }
}
