//! The API's error responses: `{"error": "<code>", "detail": "<what is wrong>"}`.
//!
//! Client errors say exactly what is wrong (400 for input that cannot be read, 422 for input
//! that is well-formed but invalid, 404, 401/403, 409, 503); internal errors answer 500 with a
//! generic message and keep the detail in the server's log.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fluxion_etl_core::tracker::sanitize;
use serde_json::json;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    /// 400: the request cannot be read (malformed JSON, a date that does not parse, …).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// 422: the request reads but is invalid (inverted range, unknown store, limit out of range).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 401: no token, or a token this server does not know.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: a known token whose role does not allow the request.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 429: too many failed authentication attempts from the client's address; retry after
    /// `seconds`.
    pub fn too_many_attempts(detail: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failed_attempts",
                detail,
            )
        }
    }

    /// 409: the request conflicts with the server's state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 503: the server cannot take the request now (shutting down, no scheduler).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts",
        )
    }

    /// 500: logs `cause` (sanitized) and answers a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(
            "Internal error answering a request: {}",
            sanitize(&cause.to_string())
        );
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; the server's log has the detail",
        )
    }

    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            // Whatever a message quotes back (a URL, a header) never carries a secret out.
            detail: sanitize(&detail.into()),
            retry_after: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.code, "detail": self.detail })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<fluxion_etl_core::Error> for ApiError {
    fn from(e: fluxion_etl_core::Error) -> Self {
        match e {
            fluxion_etl_core::Error::InvalidRequest(msg) => ApiError::unprocessable(msg),
            fluxion_etl_core::Error::NotFound(msg) => ApiError::not_found(msg),
            fluxion_etl_core::Error::Conflict(msg) => ApiError::conflict(msg),
            other => ApiError::internal(other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::unprocessable(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::bad_request("send the body as JSON (Content-Type: application/json)")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(),
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}
