//! The results table: each row is what was measured, our figure, the reference and their ratio.

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// Our figure, formatted; or `skipped: why`.
    pub ours: String,
    /// The reference figure, formatted.
    pub reference: String,
    /// ours / reference (so below 1 is smaller/faster for sizes and times, above 1 is more for rates).
    pub ratio: Option<f64>,
}

impl Row {
    /// A measured row.
    pub fn new(what: impl Into<String>, ours: String, reference: String, ratio: Option<f64>) -> Row {
        Row {
            what: what.into(),
            ours,
            reference,
            ratio,
        }
    }

    /// A row that could not be measured, and why.
    pub fn skipped(what: impl Into<String>, why: impl std::fmt::Display) -> Row {
        Row {
            what: what.into(),
            ours: format!("skipped: {why}"),
            reference: "-".into(),
            ratio: None,
        }
    }
}

/// `a / b` when both are usable.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| a / b)
}

/// Bytes as `123,456 B`.
pub fn bytes(n: u64) -> String {
    format!("{} B", thousands(n))
}

/// An integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as `1.23 ms` or `456 µs`.
pub fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// A rate as `12,345 /s`.
pub fn per_second(r: f64) -> String {
    format!("{} /s", thousands(r.max(0.0).round() as u64))
}

/// The markdown table of `rows`.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from("| what | ours | reference | ratio |\n|---|---|---|---|\n");
    for r in rows {
        let ratio = r.ratio.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"));
        out.push_str(&format!("| {} | {} | {} | {} |\n", r.what, r.ours, r.reference, ratio));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(micros(1500.0), "1.50 ms");
        assert_eq!(micros(15.2), "15 µs");
        assert_eq!(ratio(1.0, 0.0), None);
        let t = markdown_table(&[Row::skipped("x", "no pkg")]);
        assert!(t.contains("| x | skipped: no pkg | - | - |"), "{t}");
    }
}
