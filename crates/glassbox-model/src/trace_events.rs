//! OTLP trace events, logged at most twice per trace, body and request.
//!
//! Every OTLP span gives its trace a `trace-create` event. A child span's event holds the
//! trace attributes the SDK propagates to every span (user, session, release, version,
//! environment) and its start as `timestamp`, so the spans of one trace in one request
//! mostly send the same body but for `timestamp`. Among such events (same `received_at`,
//! same body but for `timestamp`) only the first and the last in merge order can change
//! the fold ([`crate::merge`]), whatever other events come before, between or
//! after them:
//! - first-wins keys (`timestamp`, `environment`) and the envelope timestamp come from
//!   the first;
//! - latest-wins keys (scalars, maps, truthy input/output) take the last event that has
//!   the key, and the last of the group re-applies every key a middle one has;
//! - `metadata` is deep-merged in order, and the last re-applies every leaf of a middle
//!   one; `tags` are a set union of equal sets;
//! - `created_at`/`updated_at` are the min/max `received_at`, equal within a request.
//!
//! So both backends log the first and the last of each group and drop the middle ones:
//! ~3 events per trace and request instead of one per span. Only OTLP events (`otel:`
//! ids) are coalesced. A dropped event that is re-sent later is logged as a new event, so
//! a re-sent span moves its trace's `updated_at` (a logged replay keeps the first
//! arrival); batch API events keep that exact replay rule.

use std::collections::HashMap;

use crate::JsonObject;
use crate::ingest::{EntityKind, LoggedEvent};

fn is_otlp_trace_create(logged: &LoggedEvent) -> bool {
    let event = &logged.event;
    event.kind == EntityKind::Trace
        && event.event_type == "trace-create"
        && event.event_id.starts_with("otel:")
}

/// The trace and the body but for `timestamp`, as JSON tokens (self-delimiting, so
/// different bodies never give the same key): events with equal keys are
/// interchangeable in the fold but for their place in the merge order.
fn group_key(entity_id: &str, body: &JsonObject) -> String {
    let json = |text: &str| serde_json::Value::from(text).to_string();
    let mut key = json(entity_id);
    for (name, value) in body.iter().filter(|(name, _)| name.as_str() != "timestamp") {
        key.push(',');
        key.push_str(&json(name));
        key.push(':');
        key.push_str(&value.to_string());
    }
    key
}

/// For each of a request's events (all received together), whether it is an OTLP trace
/// event that is neither the first nor the last in merge order of its group (same trace,
/// same body but for `timestamp`): leaving those out of the log does not change any
/// fold (see the module docs). Events of any kind may be mixed.
pub fn redundant_trace_events(events: &[LoggedEvent]) -> Vec<bool> {
    let mut redundant = vec![false; events.len()];
    if events
        .iter()
        .filter(|logged| is_otlp_trace_create(logged))
        .count()
        < 3
    {
        return redundant;
    }
    // Per group: indexes of its first and last event in merge order.
    let mut groups: HashMap<String, (usize, usize)> = HashMap::new();
    let mut group_of: Vec<Option<String>> = Vec::with_capacity(events.len());
    for (index, logged) in events.iter().enumerate() {
        if !is_otlp_trace_create(logged) {
            group_of.push(None);
            continue;
        }
        let key = group_key(&logged.event.entity_id, &logged.event.body);
        let order = logged.merge_order_key();
        groups
            .entry(key.clone())
            .and_modify(|(first, last)| {
                if order < events[*first].merge_order_key() {
                    *first = index;
                }
                if order > events[*last].merge_order_key() {
                    *last = index;
                }
            })
            .or_insert((index, index));
        group_of.push(Some(key));
    }
    for (index, key) in group_of.iter().enumerate() {
        if let Some((first, last)) = key.as_ref().and_then(|key| groups.get(key)) {
            redundant[index] = index != *first && index != *last;
        }
    }
    redundant
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::ingest::{EntityKind, IngestEvent, LoggedEvent};
    use crate::merge::fold_trace;

    use super::redundant_trace_events;

    /// Removes the events [`redundant_trace_events`] flags (what both backends leave out
    /// of the log).
    fn coalesce(events: &mut Vec<LoggedEvent>) {
        let mut redundant = redundant_trace_events(events).into_iter();
        events.retain(|_| !redundant.next().unwrap_or(false));
    }

    const T0: i64 = 1_740_823_200_000_000;

    fn event(
        id: &str,
        timestamp: i64,
        body: Value,
        received_at: i64,
        sequence: i64,
    ) -> LoggedEvent {
        LoggedEvent {
            received_at,
            sequence,
            event: IngestEvent {
                event_id: id.into(),
                event_type: "trace-create".into(),
                timestamp,
                kind: EntityKind::Trace,
                entity_id: "t".into(),
                body: body.as_object().cloned().unwrap_or_default(),
                snapshot: false,
            },
        }
    }

    fn bare(
        span: &str,
        offset: i64,
        environment: &str,
        received_at: i64,
        sequence: i64,
    ) -> LoggedEvent {
        event(
            &format!("otel:t:{span}:trace"),
            T0 + offset,
            json!({"timestamp": T0 + offset, "environment": environment}),
            received_at,
            sequence,
        )
    }

    /// Random requests of OTLP trace events drawn from a few bodies (so that groups form),
    /// with equal timestamps, `null`s, nested metadata, tags and batch events in between:
    /// for every prefix of the requests, the coalesced log folds to the same trace as the
    /// whole log.
    #[test]
    fn coalescing_each_request_keeps_the_fold() {
        let bodies = [
            json!({"environment": "prod", "userId": "u1", "sessionId": "s1",
                   "metadata": {"a": {"x": 1}}, "tags": ["t1"]}),
            json!({"environment": "dev", "userId": "u2", "metadata": {"a": 5}, "release": "r"}),
            json!({"environment": "prod", "name": "root", "input": "q", "output": "",
                   "metadata": {"a": {"y": 2}}, "public": true}),
            json!({}),
            json!({"userId": null, "output": {"answer": 1}, "tags": ["t2"]}),
        ];
        let mut state: u64 = 7;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let mut coalesced_any = false;
        for scenario in 0..400 {
            let mut sequence = 0;
            let mut requests: Vec<Vec<LoggedEvent>> = Vec::new();
            for request in 0..1 + next(4) {
                let mut events = Vec::new();
                for _ in 0..1 + next(12) {
                    sequence += 1;
                    let offset = next(6) as i64;
                    let mut body = bodies[next(bodies.len() as u64) as usize].clone();
                    body["timestamp"] = json!(T0 + offset);
                    let id = if next(5) == 0 {
                        format!("batch-{scenario}-{sequence}")
                    } else {
                        format!("otel:t:{sequence}:trace")
                    };
                    events.push(event(
                        &id,
                        T0 + offset,
                        body,
                        100 * request as i64,
                        sequence,
                    ));
                }
                requests.push(events);
            }
            for upto in 1..=requests.len() {
                let all: Vec<LoggedEvent> = requests[..upto].iter().flatten().cloned().collect();
                let mut logged = Vec::new();
                for request in &requests[..upto] {
                    let mut request = request.clone();
                    coalesce(&mut request);
                    logged.extend(request);
                }
                coalesced_any |= logged.len() < all.len();
                assert_eq!(
                    fold_trace("t", &logged),
                    fold_trace("t", &all),
                    "scenario {scenario}, after {upto} requests"
                );
            }
        }
        assert!(coalesced_any);
    }

    #[test]
    fn keeps_the_first_and_last_of_each_group_and_every_other_event() {
        let mut events = vec![
            bare("a", 20, "prod", 100, 1),
            event("not-otel", T0 + 1, json!({"timestamp": T0 + 1}), 100, 2),
            bare("b", 10, "prod", 100, 3),
            event(
                "otel:t:root:trace",
                T0 + 30,
                json!({"name": "root"}),
                100,
                4,
            ),
            bare("c", 10, "prod", 100, 5),
            bare("d", 15, "prod", 100, 6),
            bare("e", 15, "dev", 100, 7),
        ];
        coalesce(&mut events);
        let ids: Vec<&str> = events.iter().map(|e| e.event.event_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "otel:t:a:trace",
                "not-otel",
                "otel:t:b:trace",
                "otel:t:root:trace",
                "otel:t:e:trace"
            ]
        );
    }
}
