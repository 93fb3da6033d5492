//! System prompts: a workspace's own, or a built-in preset.

use crate::workspaces::repo::WorkspaceRow;

/// The seed's procurement preset: answer from the documents, quote figures and clause
/// numbers exactly, say so when the documents do not answer.
pub const PROCUREMENT_PROMPT: &str = "You are a procurement and contracts analyst. Answer only from the \
provided documents. Quote amounts, dates, percentages, parties and clause numbers exactly as written. \
When several documents disagree, say which says what. If the documents do not contain the answer, \
say that they do not; never guess.";

pub const DEFAULT_PROMPT: &str = "Answer the question using only the provided documents. \
If they do not contain the answer, say so.";

pub const PRESETS: &[&str] = &["procurement"];

pub fn preset(name: &str) -> Option<&'static str> {
    match name {
        "procurement" => Some(PROCUREMENT_PROMPT),
        _ => None,
    }
}

/// The prompt a backend should use for this workspace.
pub fn effective_system_prompt(ws: &WorkspaceRow) -> String {
    if let Some(p) = ws.system_prompt.as_deref().filter(|p| !p.trim().is_empty()) {
        return p.to_owned();
    }
    ws.prompt_preset
        .as_deref()
        .and_then(preset)
        .unwrap_or(DEFAULT_PROMPT)
        .to_owned()
}
