//! Admission control of the write routes: a budget of request bytes in flight.
//!
//! Every ingestion request (batch, legacy writes, OTLP) is charged what it will cost in
//! memory — its `Content-Length`, four times that for a compressed body (it inflates
//! while decoding), a fixed charge when the length is unknown — from a shared budget,
//! before its body is read, and holds the charge until its answer is ready (after the
//! durable commit). When the budget is spent the request gets a 503 with `Retry-After`
//! at once: the SDKs and OTLP exporters retry later, nothing is dropped silently and
//! memory stays bounded however fast clients send. The writer's bounded queue
//! (`StoreError::Overloaded`) is the second line behind it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Charge of a request whose body length is not declared (chunked transfer).
const UNKNOWN_LENGTH_CHARGE: u64 = 4 * 1024 * 1024;
/// Inflation charged to a compressed body (`Content-Encoding: gzip`).
const COMPRESSED_FACTOR: u64 = 4;
/// Permits are KiB, so that the budget fits the semaphore's permit counter.
const UNIT: u64 = 1024;

/// The shared budget of one router.
pub struct IngestAdmission {
    permits: Arc<Semaphore>,
    budget_units: u32,
}

impl IngestAdmission {
    pub fn new(budget_bytes: usize) -> IngestAdmission {
        let budget_units = (budget_bytes as u64 / UNIT).clamp(1, u32::MAX as u64 >> 4) as u32;
        IngestAdmission {
            permits: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
        }
    }

    /// What `request` is charged, in permits; never more than the whole budget, so one
    /// large request on an idle server is always admitted.
    fn charge(&self, request: &Request) -> u32 {
        let headers = request.headers();
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let compressed = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| !value.eq_ignore_ascii_case("identity"));
        let bytes = match declared {
            Some(length) if compressed => length.saturating_mul(COMPRESSED_FACTOR),
            Some(length) => length,
            None => UNKNOWN_LENGTH_CHARGE,
        };
        bytes.div_ceil(UNIT).clamp(1, self.budget_units as u64) as u32
    }
}

/// Middleware of the ingestion routes: admit within the budget or answer 503.
pub async fn admit(
    State(admission): State<Arc<IngestAdmission>>,
    request: Request,
    next: Next,
) -> Response {
    if !matches!(*request.method(), Method::POST | Method::PATCH) {
        return next.run(request).await;
    }
    let charge = admission.charge(&request);
    match Arc::clone(&admission.permits).try_acquire_many_owned(charge) {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            // Read the refused body to its end (discarding it, so memory stays flat):
            // answering before the client has sent it makes the connection close under
            // the client, which then sees a broken connection instead of this 503.
            discard_body(request.into_body()).await;
            ApiError::Unavailable(
                "glassbox is receiving more than it can write; retry after the delay in \
                 Retry-After"
                    .to_owned(),
            )
            .into_response()
        }
    }
}

/// Most bytes of a refused request that are read and dropped; past this the connection
/// is closed instead (the largest accepted body is 64 MiB).
const MAX_DISCARD_BYTES: usize = 64 * 1024 * 1024;

async fn discard_body(body: axum::body::Body) {
    let mut chunks = body.into_data_stream();
    let mut discarded = 0usize;
    while let Some(Ok(chunk)) = chunks.next().await {
        discarded += chunk.len();
        if discarded > MAX_DISCARD_BYTES {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(length: Option<u64>, encoding: Option<&str>) -> Request {
        let mut builder = Request::builder()
            .method("POST")
            .uri("/api/public/ingestion");
        if let Some(length) = length {
            builder = builder.header(header::CONTENT_LENGTH, length);
        }
        if let Some(encoding) = encoding {
            builder = builder.header(header::CONTENT_ENCODING, encoding);
        }
        builder.body(Body::empty()).expect("request")
    }

    #[test]
    fn charges_declared_length_inflated_compression_and_unknown_length() {
        let admission = IngestAdmission::new(64 * 1024 * 1024);
        assert_eq!(admission.charge(&request(Some(10_240), None)), 10);
        assert_eq!(admission.charge(&request(Some(10_241), None)), 11);
        assert_eq!(admission.charge(&request(Some(0), None)), 1);
        assert_eq!(admission.charge(&request(Some(10_240), Some("gzip"))), 40);
        assert_eq!(admission.charge(&request(None, None)), 4 * 1024);
    }

    #[test]
    fn a_request_larger_than_the_budget_is_charged_the_whole_budget() {
        let admission = IngestAdmission::new(1024 * 1024);
        assert_eq!(
            admission.charge(&request(Some(50 * 1024 * 1024), None)),
            1024
        );
    }
}
