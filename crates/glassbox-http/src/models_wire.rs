//! Wire shapes of the models API (`Model`, `PricingTier` of the OpenAPI file) and of the
//! recompute progress (glassbox's own, documented in docs/api.md).

use serde_json::{Map, Value, json};

use glassbox_model::models::{ModelDefinition, tiers_json};
use glassbox_model::time::format_iso;
use glassbox_store::RecomputeJob;

pub fn model_object(model: &ModelDefinition) -> Value {
    let prices: Map<String, Value> = model
        .default_tier()
        .map(|tier| {
            tier.prices
                .iter()
                .map(|(key, price)| (key.clone(), json!({ "price": price })))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": model.id,
        "modelName": model.model_name,
        "matchPattern": model.match_pattern,
        "startDate": model.start_date.map(format_iso),
        "inputPrice": model.flat_price("input"),
        "outputPrice": model.flat_price("output"),
        "totalPrice": model.flat_price("total"),
        "unit": model.unit,
        "tokenizerId": model.tokenizer_id,
        "tokenizerConfig": model.tokenizer_config,
        "isLangfuseManaged": model.is_builtin(),
        "createdAt": format_iso(model.created_at),
        "prices": prices,
        "pricingTiers": tiers_json(&model.pricing_tiers),
    })
}

pub fn recompute_object(job: &RecomputeJob) -> Value {
    json!({
        "id": job.id,
        "modelId": job.model_id,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "updated": job.updated,
        "createdAt": format_iso(job.created_at),
        "finishedAt": job.finished_at.map(format_iso),
        "error": job.error,
    })
}
