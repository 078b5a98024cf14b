//! Minimal CSV writing (RFC 4180 quoting), UTF-8 without BOM, LF line ends.

/// A CSV document under construction.
#[derive(Default)]
pub struct CsvWriter {
    out: String,
}

/// One cell value.
pub enum Cell {
    Text(String),
    Num(f64, usize),
    Int(i64),
    OptNum(Option<f64>, usize),
    Bool(bool),
}

impl CsvWriter {
    pub fn new(headers: &[&str]) -> CsvWriter {
        let mut w = CsvWriter::default();
        w.row_text(headers.iter().map(|h| h.to_string()));
        w
    }

    fn row_text(&mut self, cells: impl Iterator<Item = String>) {
        let line: Vec<String> = cells.map(|c| escape(&c)).collect();
        self.out.push_str(&line.join(","));
        self.out.push('\n');
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.row_text(cells.into_iter().map(|c| match c {
            Cell::Text(s) => s,
            Cell::Num(v, d) => fmt_num(v, d),
            Cell::Int(i) => i.to_string(),
            Cell::OptNum(v, d) => v.map(|v| fmt_num(v, d)).unwrap_or_default(),
            Cell::Bool(b) => {
                if b {
                    "true".into()
                } else {
                    "false".into()
                }
            }
        }));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Fixed decimals without a negative zero.
pub fn fmt_num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-')
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
    {
        s[1..].to_string()
    } else {
        s
    }
}

fn escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_numbers() {
        let mut w = CsvWriter::new(&["a", "b"]);
        w.row(vec![Cell::Text("x,\"y\"".into()), Cell::Num(-0.0001, 2)]);
        w.row(vec![Cell::OptNum(None, 1), Cell::Bool(true)]);
        assert_eq!(w.finish(), "a,b\n\"x,\"\"y\"\"\",0.00\n,true\n");
    }
}
