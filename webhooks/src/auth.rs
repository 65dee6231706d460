//! Bearer-token authentication for `/api`: the extractor handlers take to get the caller.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller: the user their token belongs to. Whether they may do what they ask
/// is decided by the service against the config at the commit acted on.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            state.metrics.auth_failure("missing");
            return Err(ApiError::unauthenticated("this call needs an API token: `Authorization: Bearer tg_…`"));
        };
        match state.service.authenticate(token).await {
            Ok(user) => Ok(Caller(user)),
            Err(err @ tollgate_controller::service::ServiceError::Unauthenticated(_)) => {
                // Never the token itself: only that one was refused.
                tracing::info!(reason = %err, "api token refused");
                state.metrics.auth_failure("invalid");
                Err(ApiError::from(err))
            }
            Err(err) => Err(ApiError::from(err)),
        }
    }
}
