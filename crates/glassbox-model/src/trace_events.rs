//! OTLP trace events: which of them the trace fold can ignore.
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
//!
//! The embedded store goes further, across requests: [`prune_otlp_trace_events`] reduces
//! a trace's logged OTLP events to those that can still win a key of the fold, whatever
//! comes later (in the agent workload two per trace: the root's and the last child's).

use std::collections::{HashMap, HashSet};

use crate::JsonObject;
use crate::ingest::{EntityKind, IngestEvent, LoggedEvent};

/// An OTLP span's `trace-create` event (its id starts with `otel:`).
pub fn is_otlp_trace_create(logged: &LoggedEvent) -> bool {
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

/// What [`prune_otlp_trace_events`] does with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Pruned {
    /// Kept as it is (and every event that is not an OTLP trace event).
    Unchanged,
    /// Kept with fewer body keys and/or another `received_at`.
    Changed(LoggedEvent),
    /// Can no longer change the fold: left out of the log.
    Dropped,
}

/// The OTLP trace events of one trace (all of them that are logged, old and new) reduced
/// to those that can still change its fold, whatever events come later: per key of the
/// body only the event that wins it now can win it later (a later event either beats it
/// or loses to it, exactly as it would to the dropped ones). So:
/// - first-wins keys ([`crate::merge::TRACE_FIRST_KEYS`]) stay only in the first event
///   in merge order that has them non-null; latest-wins keys only in the last that has
///   them (`null` included, `{}` not); `input`/`output` only in the last truthy one;
/// - a `metadata` object stays unless a later event has an equal one (deep merge
///   re-applies it: merging `M`, then anything, then `M` again equals the same without
///   the first `M`); the union of the `tags` moves into the first event;
/// - the first event in merge order stays (its envelope timestamp is the fallback
///   `timestamp`), and `created_at`/`updated_at` (min/max `received_at`) are kept by
///   moving the earliest and latest arrival onto the kept events (the arrival matters to
///   nothing else), or by keeping a bare event when only one would be left.
///
/// Keys the fold does not read are dropped. Only OTLP events (`otel:` ids) are pruned:
/// they are never replaced by a replay with another body (a re-sent span is the same
/// span), while a batch API event may be, so batch events are not used to prune either.
/// The result is returned per event of `events`, in their order.
pub fn prune_otlp_trace_events(events: &[LoggedEvent]) -> Vec<Pruned> {
    use crate::merge::{TRACE_FIRST_KEYS, TRACE_LATEST_KEYS, TRACE_TRUTHY_KEYS, is_truthy};
    use serde_json::Value;

    let mut result = vec![Pruned::Unchanged; events.len()];
    let mut order: Vec<usize> = (0..events.len())
        .filter(|&index| is_otlp_trace_create(&events[index]))
        .collect();
    if order.len() < 2 {
        return result;
    }
    order.sort_by_key(|&index| events[index].merge_order_key());
    let body = |index: usize| &events[index].event.body;
    // The body each kept event keeps, by index into `events`.
    let mut kept: HashMap<usize, JsonObject> = HashMap::new();
    let mut keep = |index: usize, key: &str, value: Value| {
        kept.entry(index).or_default().insert(key.to_owned(), value);
    };
    // Per key, its winner: the first event (in merge order) or the last whose value the
    // rule accepts.
    let not_empty_object = |value: &Value| !value.as_object().is_some_and(|o| o.is_empty());
    /// Keys, whether the first (else the last) accepted value wins, and what is accepted.
    type Rule<'a> = (&'a [&'a str], bool, &'a dyn Fn(&Value) -> bool);
    let rules: [Rule<'_>; 3] = [
        (&TRACE_FIRST_KEYS, true, &|value: &Value| !value.is_null()),
        (&TRACE_LATEST_KEYS, false, &not_empty_object),
        (&TRACE_TRUTHY_KEYS, false, &is_truthy),
    ];
    for (keys, first, accepts) in rules {
        for &key in keys {
            let has = |&index: &usize| body(index).get(key).is_some_and(accepts);
            let winner = match first {
                true => order.iter().copied().find(has),
                false => order.iter().copied().rev().find(has),
            };
            if let Some(index) = winner
                && let Some(value) = body(index).get(key)
            {
                keep(index, key, value.clone());
            }
        }
    }
    // Latest first; a metadata object is kept unless a later one is equal (compared by
    // its JSON text, so that a trace with many spans costs one pass; equal maps with
    // their keys in another order are both kept, which is always exact).
    let mut later_metadata: HashSet<String> = HashSet::new();
    for &index in order.iter().rev() {
        let Some(Value::Object(metadata)) = body(index).get("metadata") else {
            continue;
        };
        let text = serde_json::to_string(metadata).unwrap_or_default();
        if !metadata.is_empty() && later_metadata.insert(text) {
            keep(index, "metadata", Value::Object(metadata.clone()));
        }
    }
    let mut tags: Vec<&str> = order
        .iter()
        .filter_map(|&index| body(index).get("tags"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let first = order[0];
    if !tags.is_empty() {
        keep(first, "tags", Value::from(tags));
    }
    kept.entry(first).or_default();
    // Arrivals: the earliest and the latest must stay among the kept events.
    let by_arrival = |index: &usize| (events[*index].received_at, *index);
    let (earliest, latest) = match (
        order.iter().copied().min_by_key(by_arrival),
        order.iter().copied().max_by_key(by_arrival),
    ) {
        (Some(earliest), Some(latest)) => (earliest, latest),
        _ => return result,
    };
    let mut arrival: HashMap<usize, i64> = HashMap::new();
    if kept.len() == 1 {
        kept.entry(earliest).or_default();
        kept.entry(latest).or_default();
    } else {
        let mut indexes: Vec<usize> = kept.keys().copied().collect();
        indexes.sort_by_key(by_arrival);
        if let (Some(&first_kept), Some(&last_kept)) = (indexes.first(), indexes.last()) {
            arrival.insert(first_kept, events[earliest].received_at);
            arrival.insert(last_kept, events[latest].received_at);
        }
    }
    for &index in &order {
        result[index] = match kept.remove(&index) {
            None => Pruned::Dropped,
            Some(body) => {
                let logged = &events[index];
                let received_at = arrival.get(&index).copied().unwrap_or(logged.received_at);
                if body == logged.event.body && received_at == logged.received_at {
                    Pruned::Unchanged
                } else {
                    let event = &logged.event;
                    Pruned::Changed(LoggedEvent {
                        event: IngestEvent {
                            event_id: event.event_id.clone(),
                            event_type: event.event_type.clone(),
                            timestamp: event.timestamp,
                            kind: event.kind,
                            entity_id: event.entity_id.clone(),
                            body,
                            snapshot: event.snapshot,
                        },
                        received_at,
                        sequence: logged.sequence,
                    })
                }
            }
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::ingest::{EntityKind, IngestEvent, LoggedEvent};
    use crate::merge::fold_trace;

    use super::{Pruned, prune_otlp_trace_events, redundant_trace_events};

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

    /// Applies [`prune_otlp_trace_events`] to a log, as the embedded store does.
    fn prune(log: &mut Vec<LoggedEvent>) {
        let pruned = prune_otlp_trace_events(log);
        let mut kept = Vec::new();
        for (logged, pruned) in log.drain(..).zip(pruned) {
            match pruned {
                Pruned::Unchanged => kept.push(logged),
                Pruned::Changed(changed) => kept.push(changed),
                Pruned::Dropped => {}
            }
        }
        *log = kept;
    }

    /// Random requests of OTLP trace events over every key the trace fold reads (with
    /// `null`s, `{}`, falsy inputs, nested metadata, tags and keys it ignores), batch
    /// events in between, equal and unequal timestamps and arrivals: after each request
    /// the pruned log folds to the same trace as every event received so far.
    #[test]
    fn the_pruned_log_folds_like_every_event() {
        let bodies = [
            json!({"environment": "prod", "userId": "u1", "sessionId": "s1", "release": "r1",
                   "version": "v1", "metadata": {"a": {"x": 1}}, "tags": ["t1"]}),
            json!({"environment": "dev", "userId": "u2", "metadata": {"a": 5}, "release": null}),
            json!({"name": "root", "input": "q", "output": "", "public": true,
                   "metadata": {"a": {"y": 2}, "b": []}, "bookmarked": false}),
            json!({}),
            json!({"userId": null, "output": {"answer": 1}, "tags": ["t2", 3], "other": 1}),
            json!({"name": {}, "input": 0, "output": false, "metadata": {}, "public": {}}),
            json!({"environment": null, "sessionId": "s2", "metadata": {"a": {"x": 1}},
                   "version": 7, "input": [1], "bookmarked": true}),
            json!({"metadata": {"a": {"x": 1}}, "name": null, "tags": "not-a-list"}),
        ];
        let mut state: u64 = 11;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let (mut pruned_any, mut moved_arrival) = (false, false);
        for scenario in 0..600 {
            let mut sequence = 0;
            let (mut all, mut log) = (Vec::new(), Vec::new());
            for request in 0..1 + next(6) {
                for _ in 0..1 + next(8) {
                    sequence += 1;
                    let offset = next(6) as i64;
                    let mut body = bodies[next(bodies.len() as u64) as usize].clone();
                    match next(3) {
                        0 => body["timestamp"] = json!(T0 + offset),
                        1 => body["timestamp"] = json!(null),
                        _ => {}
                    }
                    let id = if next(5) == 0 {
                        format!("batch-{scenario}-{sequence}")
                    } else {
                        format!("otel:t:{sequence}:trace")
                    };
                    let received_at = 100 * request as i64 + next(3) as i64 * 40;
                    let logged = event(&id, T0 + offset, body, received_at, sequence);
                    all.push(logged.clone());
                    log.push(logged);
                }
                prune(&mut log);
                pruned_any |= log.len() < all.len();
                moved_arrival |= log.iter().any(|logged| {
                    all.iter().any(|original| {
                        original.event.event_id == logged.event.event_id
                            && original.received_at != logged.received_at
                    })
                });
                assert_eq!(
                    fold_trace("t", &log),
                    fold_trace("t", &all),
                    "scenario {scenario}, after request {request}"
                );
            }
        }
        // The generator reaches both kinds of change.
        assert!(pruned_any && moved_arrival);
    }

    /// The workload's shape: a root span that arrives last and children that repeat the
    /// propagated attributes. Two events stay: the root (first in merge order) and the
    /// child that wins the latest-wins keys, which takes the earliest arrival.
    #[test]
    fn a_trace_of_an_agent_keeps_its_root_and_its_last_child() {
        let child = |span: &str, offset: i64, received_at: i64, sequence: i64| {
            event(
                &format!("otel:t:{span}:trace"),
                T0 + offset,
                json!({"timestamp": T0 + offset, "environment": "prod", "userId": "u",
                       "sessionId": "s", "release": "r"}),
                received_at,
                sequence,
            )
        };
        let mut log = vec![
            child("a", 10, 100, 1),
            child("b", 20, 100, 2),
            child("c", 30, 200, 3),
            event(
                "otel:t:root:trace",
                T0,
                json!({"timestamp": T0, "environment": "prod", "userId": "u", "sessionId": "s",
                       "release": "r", "name": "agent", "input": "q", "output": "a",
                       "metadata": {"k": "v"}}),
                200,
                4,
            ),
        ];
        let all = log.clone();
        prune(&mut log);
        assert_eq!(fold_trace("t", &log), fold_trace("t", &all));
        let kept: Vec<(&str, i64, Vec<&str>)> = log
            .iter()
            .map(|logged| {
                (
                    logged.event.event_id.as_str(),
                    logged.received_at,
                    logged.event.body.keys().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "otel:t:c:trace",
                    100,
                    vec!["userId", "sessionId", "release"]
                ),
                (
                    "otel:t:root:trace",
                    200,
                    vec![
                        "timestamp",
                        "environment",
                        "name",
                        "input",
                        "output",
                        "metadata"
                    ]
                ),
            ]
        );
    }
}
