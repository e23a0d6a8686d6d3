//! Columns sized from their content: `key list`, `list`, `delegation list` and `token list`
//! print their rows through [`Table`], so a long cell (a delegated role such as
//! `targets/releases`, a long GUN) widens its column instead of pushing the next ones out of
//! line.

use crate::text::printable;

/// A table of text cells, rendered with each column as wide as its widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned right (numbers).
    right: Vec<usize>,
}

/// Between two columns.
const GAP: &str = "  ";

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right: Vec::new(),
        }
    }

    /// Aligns column `col` (from 0) right.
    pub fn right(mut self, col: usize) -> Self {
        self.right.push(col);
        self
    }

    /// A row; cells hold outside text, escaped here so that widths are those shown.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| printable(c.as_ref()).into_owned())
                .collect(),
        );
    }

    /// The header and the rows, one line each; the last column is not padded.
    pub fn render(&self) -> String {
        let cols = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let width = |c: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (c, w) in widths.iter().enumerate() {
                let cell = r.get(c).map(String::as_str).unwrap_or("");
                if c > 0 {
                    line += GAP;
                }
                let pad = w.saturating_sub(cell.chars().count());
                if self.right.contains(&c) {
                    line += &" ".repeat(pad);
                    line += cell;
                } else if c + 1 == cols {
                    line += cell;
                } else {
                    line += cell;
                    line += &" ".repeat(pad);
                }
            }
            out += line.trim_end();
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["ROLE", "GUN", "SIZE"]).right(2);
        t.row(["targets", "example.com/app", "1"]);
        t.row(["targets/releases", "a", "1024"]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "ROLE              GUN              SIZE");
        assert_eq!(lines[1], "targets           example.com/app     1");
        assert_eq!(lines[2], "targets/releases  a                1024");
        // Every column starts where the header's does.
        let at = |l: &str, what: &str| l.find(what).unwrap();
        assert_eq!(at(lines[0], "GUN"), at(lines[1], "example.com"));
        assert_eq!(at(lines[0], "GUN"), at(lines[2], "a "));
    }

    #[test]
    fn cells_are_escaped_before_they_are_measured() {
        let mut t = Table::new(&["A", "B"]);
        t.row(["x\u{1b}y", "z"]);
        t.row(["long-cell", "w"]);
        let s = t.render();
        assert!(s.contains("x\\ey       z"), "{s}");
        assert!(!s.contains('\u{1b}'));
    }
}
