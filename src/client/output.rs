//! What the command line prints: plain tables, and progress that is a bar on a terminal
//! and a few plain lines anywhere else (CI logs, pipes, files).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Columns a cell takes on a terminal: CJK and most emoji take two.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Renders rows under a header, columns padded to their widest cell as a terminal shows
/// it (display width, not characters). Cells are single lines: line breaks become
/// spaces, and direction overrides (which would reverse the rest of the line) go.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let header: Vec<String> = header.iter().map(|h| clean(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(cell));
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(&header);
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// The first `max` characters of `text` on one line, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

pub fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// Progress of a long task: an indicatif bar when stdout is a terminal, otherwise a
/// plain line each time the shown state changes (and at most every tenth of the way).
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: String,
    last_message: Option<String>,
    last_step: Option<u64>,
}

impl Progress {
    /// A bar counting `total` units (e.g. questions), or percent when `total` is 100.
    pub fn new(label: &str, total: u64, unit: &str) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            let template = if unit == "%" {
                "{prefix} [{bar:32.cyan/blue}] {pos}% {msg} ({elapsed})".to_owned()
            } else {
                format!(
                    "{{prefix}} [{{bar:32.cyan/blue}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}})"
                )
            };
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            unit: unit.to_owned(),
            last_message: None,
            last_step: None,
        }
    }

    /// Byte counts, shown as sizes on the bar.
    pub fn bytes(label: &str, total: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:32.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_owned());
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            unit: "bytes".to_owned(),
            last_message: None,
            last_step: None,
        }
    }

    /// A handle that may move the bar from another task (uploads stream in reqwest).
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// Moves to `position` of `total` with a message; on a non-terminal prints a line
    /// when the message changed or a further tenth of the way is done.
    pub fn update(&mut self, position: u64, total: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(position);
                bar.set_message(message.to_owned());
            }
            None => {
                let step = (position.min(total) * 10).checked_div(total).unwrap_or(0);
                let changed = self.last_message.as_deref() != Some(message);
                if self.last_step != Some(step) || changed {
                    let line = if self.unit == "%" {
                        format!("{}: {position}% {message}", self.label)
                    } else {
                        format!("{}: {position}/{total} {} {message}", self.label, self.unit)
                    };
                    println!("{}", line.trim_end());
                    self.last_step = Some(step);
                    self.last_message = Some(message.to_owned());
                }
            }
        }
    }

    /// Ends the bar, leaving `message` in its place (a plain line when not a terminal).
    pub fn finish(self, message: &str) {
        match self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                println!("{}: {message}", self.label);
            }
            None => println!("{}: {message}", self.label),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_padded_to_their_widest_cell_and_lines_have_no_trailing_space() {
        let out = table(
            &["id", "verdict"],
            &[
                vec!["a/long/path.pdf".into(), "accepted".into()],
                vec!["x.csv".into(), String::new()],
            ],
        );
        assert_eq!(
            out,
            "id               verdict\n\
             ---------------  --------\n\
             a/long/path.pdf  accepted\n\
             x.csv\n"
        );
    }

    #[test]
    fn cjk_and_emoji_are_padded_by_the_columns_they_take_on_a_terminal() {
        let out = table(
            &["name", "docs"],
            &[
                vec!["合同 🚀".into(), "1".into()],
                vec!["plain".into(), "2".into()],
                vec!["rtl\u{202E}fdp".into(), "3".into()],
            ],
        );
        // "合同 🚀" is 7 columns wide (2 + 2 + 1 + 2): every "docs" cell starts at column 9.
        let columns: Vec<usize> = out
            .lines()
            .map(|l| {
                let start = l.rfind("  ").unwrap() + 2;
                width(&l[..start])
            })
            .collect();
        assert_eq!(columns, vec![9, 9, 9, 9, 9], "{out}");
        assert!(!out.contains('\u{202E}'));
    }

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text_to_the_limit_on_one_line() {
        assert_eq!(shorten("net 30\ndays", 60), "net 30 days");
        let long = "é".repeat(100);
        let cut = shorten(&long, 60);
        assert_eq!(cut.chars().count(), 60);
        assert!(cut.ends_with('…'));
    }
}
