//! The templates Quire ships. They live here, not in the database: every organisation
//! sees them, none can change them (`403`), any can copy one into its own templates.
//! Their ids start with `global-`; the executive summary is the default summary
//! template of an organisation that has not chosen one.

use crate::templates::model::TemplateType;

pub struct GlobalTemplate {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub template_type: TemplateType,
    pub is_default: bool,
    pub prompt_template: &'static str,
}

pub const EXECUTIVE_SUMMARY_ID: &str = "global-executive-summary";

pub const GLOBALS: &[GlobalTemplate] = &[
    GlobalTemplate {
        id: EXECUTIVE_SUMMARY_ID,
        name: "Executive summary",
        description: "The conclusion first, then the few points a decision maker needs, figures exact.",
        template_type: TemplateType::Summary,
        is_default: true,
        prompt_template: "Write an executive summary of the document \"{{ document.title }}\"\
{% if language %} in {{ language }}{% endif %}. Start with one sentence that states what the \
document is and what it decides or asks for. Then give the three to five points that matter \
most to a decision maker. Quote amounts, dates, percentages and names exactly as written. Do \
not add anything the document does not say.\n\nDocument:\n{{ document.content }}\n",
    },
    GlobalTemplate {
        id: "global-contract-key-terms",
        name: "Contract key terms",
        description: "Parties, dates, amounts, term and renewal, termination, governing law.",
        template_type: TemplateType::Summary,
        is_default: false,
        prompt_template: "Extract the key terms of the contract \"{{ document.title }}\"\
{% if language %} in {{ language }}{% endif %}. List, each on its own line and quoted exactly: \
the parties (with their roles); the effective date, term and renewal; every amount, price and \
payment term; delivery or service levels; termination rights and notice periods; liability \
caps and penalties; the governing law and jurisdiction. Write \"not stated\" for anything the \
contract does not say.\n\nContract:\n{{ document.content }}\n",
    },
    GlobalTemplate {
        id: "global-obligations-and-risks",
        name: "Obligations and risks",
        description: "Who must do what by when, and what could go wrong for us.",
        template_type: TemplateType::Summary,
        is_default: false,
        prompt_template: "From the document \"{{ document.title }}\", list every obligation \
(who must do what, by when, with the clause or page) and then the risks it creates for the \
buyer: penalties, uncapped liabilities, automatic renewals, exclusivity, unusual termination \
terms{% if language %}. Answer in {{ language }}{% endif %}. Quote figures and deadlines \
exactly.\n\nDocument:\n{{ document.content }}\n",
    },
    GlobalTemplate {
        id: "global-financial-highlights",
        name: "Financial highlights",
        description: "Totals, changes, ratios and anything unusual in a statement or budget.",
        template_type: TemplateType::Summary,
        is_default: false,
        prompt_template: "Summarise the financial highlights of \"{{ document.title }}\"\
{% if language %} in {{ language }}{% endif %}: totals and subtotals, changes against prior \
periods, notable ratios, large or unusual items, and any stated risks or commitments. Give \
every figure with its currency and period exactly as written.\n\nDocument:\n{{ document.content }}\n",
    },
];

pub fn find(id: &str) -> Option<&'static GlobalTemplate> {
    GLOBALS.iter().find(|g| g.id == id)
}

pub fn is_global_id(id: &str) -> bool {
    id.starts_with("global-")
}

/// The global default of a type, if it has one.
pub fn default_of(template_type: TemplateType) -> Option<&'static GlobalTemplate> {
    GLOBALS
        .iter()
        .find(|g| g.is_default && g.template_type == template_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::model::PromptTemplate;

    #[test]
    fn every_global_template_parses_and_ids_are_unique() {
        for g in GLOBALS {
            PromptTemplate::parse(g.prompt_template).unwrap_or_else(|e| panic!("{}: {e:?}", g.id));
            assert!(is_global_id(g.id));
            assert_eq!(GLOBALS.iter().filter(|o| o.id == g.id).count(), 1);
        }
        assert_eq!(
            default_of(TemplateType::Summary).map(|g| g.id),
            Some(EXECUTIVE_SUMMARY_ID)
        );
    }
}
