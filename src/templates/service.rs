//! Templates as the other capabilities see them: an organisation's or a global one,
//! found by id, by name or as the default of a type.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;
use crate::templates::globals::{self, GlobalTemplate};
use crate::templates::model::{PromptTemplate, TemplateType};
use crate::templates::repo::{self, TemplateRow};
use crate::time::ms_to_rfc3339;

/// A template of either kind, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateResponse {
    pub id: String,
    /// `null` for a global template (read-only; copy it to change it).
    pub org_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub prompt_template: String,
    pub template_type: TemplateType,
    pub is_default: bool,
    pub is_global: bool,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl TemplateResponse {
    pub fn from_row(row: TemplateRow) -> Result<Self, ApiError> {
        let template_type = TemplateType::parse(&row.template_type).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "stored template type {:?}",
                row.template_type
            ))
        })?;
        Ok(Self {
            id: row.id,
            org_id: Some(row.org_id),
            name: row.name,
            description: row.description,
            prompt_template: row.prompt_template,
            template_type,
            is_default: row.is_default == 1,
            is_global: false,
            created_by: row.created_by,
            created_at: Some(ms_to_rfc3339(row.created_at)),
            updated_at: Some(ms_to_rfc3339(row.updated_at)),
        })
    }

    pub fn from_global(g: &GlobalTemplate) -> Self {
        Self {
            id: g.id.to_owned(),
            org_id: None,
            name: g.name.to_owned(),
            description: Some(g.description.to_owned()),
            prompt_template: g.prompt_template.to_owned(),
            template_type: g.template_type,
            is_default: g.is_default,
            is_global: true,
            created_by: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// The parsed template (stored ones were checked when written).
    pub fn parsed(&self) -> Result<PromptTemplate, ApiError> {
        PromptTemplate::parse(&self.prompt_template).map_err(|e| ApiError::BadRequest {
            message: format!(
                "template {}: line {}, column {}: {}",
                self.id, e.line, e.column, e.message
            ),
            details: Some(e.details()),
        })
    }
}

/// The organisation's template or a global one with this id; `404` otherwise.
pub async fn find(state: &AppState, org_id: &str, id: &str) -> Result<TemplateResponse, ApiError> {
    if let Some(g) = globals::find(id) {
        return Ok(TemplateResponse::from_global(g));
    }
    let row = repo::find_template(&state.db.pool, org_id, id)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    TemplateResponse::from_row(row)
}

/// By id, or else by name: the organisation's own first, then a global one (names of
/// global templates match case-insensitively). For the command line's `--template NAME`.
pub async fn find_by_id_or_name(
    state: &AppState,
    org_id: &str,
    id_or_name: &str,
) -> Result<TemplateResponse, ApiError> {
    match find(state, org_id, id_or_name).await {
        Err(ApiError::NotFound(_)) => {}
        other => return other,
    }
    if let Some(row) = repo::find_template_by_name(&state.db.pool, org_id, id_or_name).await? {
        return TemplateResponse::from_row(row);
    }
    globals::GLOBALS
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(id_or_name))
        .map(TemplateResponse::from_global)
        .ok_or(ApiError::NotFound("template"))
}

/// The organisation's default of a type, else the global one.
pub async fn default_for(
    state: &AppState,
    org_id: &str,
    template_type: TemplateType,
) -> Result<Option<TemplateResponse>, ApiError> {
    if let Some(row) =
        repo::find_default_template(&state.db.pool, org_id, template_type.as_str()).await?
    {
        return TemplateResponse::from_row(row).map(Some);
    }
    Ok(globals::default_of(template_type).map(TemplateResponse::from_global))
}
