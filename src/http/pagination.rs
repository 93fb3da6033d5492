//! The one list shape: `limit`/`offset` in, `{items, total, limit, offset}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// The largest offset: the largest integer every JSON reader holds exactly (2^53 - 1),
/// so the document's `maximum` says exactly what the server takes.
pub const MAX_OFFSET: u64 = 9_007_199_254_740_991;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    pub offset: Option<u64>,
}

/// A validated window into a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub offset: u64,
}

impl ListParams {
    pub fn window(&self) -> Result<Window, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::invalid_field(
                "offset",
                format!("must be at most {MAX_OFFSET}"),
            ));
        }
        Ok(Window { limit, offset })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, total: u64, window: Window) -> Self {
        Self {
            items,
            total,
            limit: window.limit,
            offset: window.offset,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_is_bounded() {
        let p = ListParams {
            limit: None,
            offset: None,
        };
        assert_eq!(
            p.window().ok(),
            Some(Window {
                limit: 50,
                offset: 0
            })
        );
        let p = ListParams {
            limit: Some(201),
            offset: None,
        };
        assert!(p.window().is_err());
        let p = ListParams {
            limit: Some(0),
            offset: None,
        };
        assert!(p.window().is_err());
    }
}
