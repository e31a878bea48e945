//! Replay: a candidate router over the route contexts a policy recorded
//! (`[audit] record_inputs = true`), or a candidate merger over the
//! recorded pairs of answers, offline, in the same sandbox, to see what it
//! would have decided before it decides anything.
//!
//! A recorded context is the router's whole input with every value the
//! anonymiser finds (and every field the schema marks) replaced by the
//! request's placeholders: what the cloud would have seen, never more.
//! The report counts the decisions that change, the local share before and
//! after, and the cloud traffic the candidate would cause: a request it
//! keeps local costs nothing; one the cloud already answered costs what it
//! cost (its `answer` record); one it newly sends costs the mean of those.
//! Where requests carry a label (a `label` record in the log, or a file of
//! labels, see [`crate::audit::label`]), it also scores both routers'
//! escalations against them: of the answers labelled wrong, the share each
//! sends to the cloud (error recall), and the answers labelled right it
//! sends anyway.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::label::{Label, Labels};
use crate::audit::record::{CloudUsage, Record};
use crate::audit::{Filter, Kind};
use crate::plugins::contract::{
    Candidate, Choice, DocumentFeatures, FieldSignal, Route, RouteContext,
};
use crate::plugins::{CallSettings, Plugin};

/// The recorded form of a route context, with its triage already
/// pseudonymised by the caller.
pub fn record_route(ctx: &RouteContext, triage: Value, tags: Value) -> Value {
    json!({
        "task": ctx.task,
        "tags": tags,
        "input_tokens": ctx.input_tokens,
        "triage": triage,
        "confidence": ctx.confidence,
        "fields": record_fields(&ctx.fields),
        "document": ctx.document.as_ref().map(|d| json!({
            "clauses": d.clauses, "parties": d.parties, "governing_laws": d.governing_laws,
            "clause_kinds": d.clause_kinds, "risk_flags": d.risk_flags,
        })),
        "budget_left_usd": ctx.budget_left_usd,
        "sample": ctx.sample,
    })
}

fn record_fields(fields: &[FieldSignal]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| {
            json!({
                "name": f.name, "confidence": f.confidence, "calibrated": f.calibrated, "evidence": f.evidence,
            })
        })
        .collect()
}

fn read_fields(recorded: &Value) -> Result<Vec<FieldSignal>, String> {
    recorded["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            Ok(FieldSignal {
                name: f["name"].as_str().unwrap_or_default().to_string(),
                confidence: f["confidence"]
                    .as_f64()
                    .ok_or("recorded inputs lack a field's confidence")?
                    as f32,
                calibrated: f["calibrated"].as_bool().unwrap_or(false),
                evidence: f["evidence"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// The recorded form of a merger's candidate, its record already pseudonymised.
pub fn record_candidate(candidate: &Candidate, json: Value) -> Value {
    json!({
        "json": json,
        "confidence": candidate.confidence,
        "fields": record_fields(&candidate.fields),
    })
}

fn candidate(recorded: &Value) -> Result<Candidate, String> {
    Ok(Candidate {
        json: recorded["json"].to_string(),
        confidence: recorded["confidence"]
            .as_f64()
            .ok_or("recorded inputs lack a candidate's confidence")? as f32,
        fields: read_fields(recorded)?,
    })
}

/// A route context back from its recorded form.
pub fn route_context(record: &Record, recorded: &Value) -> Result<RouteContext, String> {
    let text = |key: &str| recorded[key].as_str().map(str::to_string);
    let number = |v: &Value, key: &str| {
        v[key]
            .as_f64()
            .ok_or_else(|| format!("recorded inputs lack {key}"))
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let fields = read_fields(recorded)?;
    let document = match &recorded["document"] {
        Value::Null => None,
        d => Some(DocumentFeatures {
            clauses: number(d, "clauses")? as u32,
            parties: number(d, "parties")? as u32,
            governing_laws: number(d, "governing_laws")? as u32,
            clause_kinds: strings(&d["clause_kinds"]),
            risk_flags: strings(&d["risk_flags"]),
        }),
    };
    Ok(RouteContext {
        request_id: record.entry.request_id.clone().unwrap_or_default(),
        policy: record.entry.policy.clone().unwrap_or_default(),
        task: text("task").unwrap_or_default(),
        tags: strings(&recorded["tags"]),
        input_tokens: number(recorded, "input_tokens")? as u32,
        triage_json: match &recorded["triage"] {
            Value::Null => None,
            value => Some(value.to_string()),
        },
        confidence: number(recorded, "confidence")? as f32,
        fields,
        document,
        budget_left_usd: number(recorded, "budget_left_usd")?,
        sample: number(recorded, "sample")?,
    })
}

/// Recorded and replayed routes against the requests' labels.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LabelScore {
    /// Replayed decisions whose request carries a label.
    pub labelled: u64,
    /// Of those, the ones labelled wrong.
    pub wrong: u64,
    /// Answers labelled wrong that went to the cloud, and that would go.
    pub wrong_to_cloud_recorded: u64,
    pub wrong_to_cloud_replayed: u64,
    /// Answers labelled right that went to the cloud, and that would go.
    pub right_to_cloud_recorded: u64,
    pub right_to_cloud_replayed: u64,
    /// Share of the answers labelled wrong sent to the cloud (none
    /// labelled wrong: `null`).
    pub error_recall_recorded: Option<f64>,
    pub error_recall_replayed: Option<f64>,
}

impl LabelScore {
    fn count(&mut self, label: &Label, recorded_to_cloud: bool, replayed_to_cloud: bool) {
        self.labelled += 1;
        let (recorded, replayed) = if label.wrong() {
            self.wrong += 1;
            (
                &mut self.wrong_to_cloud_recorded,
                &mut self.wrong_to_cloud_replayed,
            )
        } else {
            (
                &mut self.right_to_cloud_recorded,
                &mut self.right_to_cloud_replayed,
            )
        };
        *recorded += u64::from(recorded_to_cloud);
        *replayed += u64::from(replayed_to_cloud);
    }

    fn finish(&mut self) {
        let recall = |n: u64| (self.wrong > 0).then(|| n as f64 / self.wrong as f64);
        self.error_recall_recorded = recall(self.wrong_to_cloud_recorded);
        self.error_recall_replayed = recall(self.wrong_to_cloud_replayed);
    }
}

/// One decision that changed.
#[derive(Clone, Debug, Serialize)]
pub struct Changed {
    pub record: String,
    pub request_id: String,
    pub recorded: String,
    pub replayed: String,
}

/// Cloud traffic, summed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    pub requests: u64,
    pub bytes: f64,
    pub tokens: f64,
    pub cost_usd: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Route records of the policy in the window.
    pub decisions: u64,
    /// Of those, the ones without recorded inputs (skipped).
    pub without_inputs: u64,
    pub replayed: u64,
    pub changed: u64,
    pub changed_share: f64,
    pub local_share_recorded: f64,
    pub local_share_replayed: f64,
    pub cloud_recorded: Traffic,
    pub cloud_projected: Traffic,
    /// Calls the candidate failed (its fallback, local, is what counts).
    pub failures: u64,
    pub examples: Vec<Changed>,
    /// Replayed decisions by name.
    pub decided: BTreeMap<String, u64>,
    /// The replayed decisions against the labels their requests carry.
    pub labels: LabelScore,
    #[serde(skip)]
    local_recorded: u64,
    #[serde(skip)]
    local_replayed: u64,
}

impl Report {
    /// Count one replayed decision beside the recorded one; `local` says
    /// which decisions keep the answer local.
    fn count(
        &mut self,
        record: &Record,
        recorded: &str,
        replayed: &str,
        local: fn(&str) -> bool,
        examples: usize,
    ) {
        *self.decided.entry(replayed.to_string()).or_default() += 1;
        self.local_recorded += u64::from(local(recorded));
        self.local_replayed += u64::from(local(replayed));
        if replayed != recorded {
            self.changed += 1;
            if self.examples.len() < examples {
                self.examples.push(Changed {
                    record: record.id.clone(),
                    request_id: record.entry.request_id.clone().unwrap_or_default(),
                    recorded: recorded.to_string(),
                    replayed: replayed.to_string(),
                });
            }
        }
    }

    /// The shares, once every decision is counted.
    fn finish(mut self) -> Report {
        let share = |n: u64| {
            if self.replayed == 0 {
                0.0
            } else {
                n as f64 / self.replayed as f64
            }
        };
        self.changed_share = share(self.changed);
        self.local_share_recorded = share(self.local_recorded);
        self.local_share_replayed = share(self.local_replayed);
        self.labels.finish();
        self
    }
}

fn route_name(route: Route) -> &'static str {
    crate::pipeline::patterns::route_name(route)
}

fn goes_to_cloud(decision: &str) -> bool {
    !matches!(decision, "local" | "reject")
}

/// Replay `candidate` under `settings` over the route records of `policy`
/// in `log` that `filter` keeps; at most `examples` changed decisions
/// listed. The requests' labels are the log's `label` records of the
/// policy (whenever they were written), overridden by `labels`.
pub async fn routes(
    log: impl BufRead,
    filter: &Filter,
    labels: &Labels,
    candidate: &Plugin,
    settings: &CallSettings,
    examples: usize,
) -> std::io::Result<Report> {
    let mut routes = Vec::new();
    let mut usage: BTreeMap<String, CloudUsage> = BTreeMap::new();
    let mut logged = Labels::new();
    let window = Filter {
        kind: None,
        decision: None,
        ..filter.clone()
    };
    let policy = Filter {
        policy: filter.policy.clone(),
        ..Filter::default()
    };
    for item in policy.scan(log) {
        let (record, _) = item?;
        if let Some(label) = Label::from_record(&record) {
            logged.insert(label.request_id.clone(), label);
            continue;
        }
        if !window.matches(&record) {
            continue;
        }
        match record.entry.kind {
            Some(Kind::Route) => routes.push(record),
            Some(Kind::Answer) => {
                if let (Some(id), Some(cloud)) = (&record.entry.request_id, &record.entry.cloud)
                    && cloud.calls > 0
                {
                    usage.insert(id.clone(), cloud.clone());
                }
            }
            _ => {}
        }
    }
    let mean = |f: fn(&CloudUsage) -> f64| {
        if usage.is_empty() {
            0.0
        } else {
            usage.values().map(f).sum::<f64>() / usage.len() as f64
        }
    };
    let mean_usage = (
        mean(|u| u.bytes as f64),
        mean(|u| (u.prompt_tokens + u.completion_tokens) as f64),
        mean(|u| u.cost_usd),
    );
    let mut report = Report::default();
    for record in &routes {
        report.decisions += 1;
        let Some(recorded) = &record.entry.recorded else {
            report.without_inputs += 1;
            continue;
        };
        let ctx = match route_context(record, recorded) {
            Ok(ctx) => ctx,
            Err(_) => {
                report.without_inputs += 1;
                continue;
            }
        };
        report.replayed += 1;
        let decision = match candidate.route(&ctx, settings).await {
            Ok(d) => route_name(d.route),
            Err(_) => {
                report.failures += 1;
                "local"
            }
        };
        let before = record.entry.decision.as_str();
        report.count(record, before, decision, |d| !goes_to_cloud(d), examples);
        let request = record.entry.request_id.clone().unwrap_or_default();
        if let Some(label) = labels.get(&request).or_else(|| logged.get(&request)) {
            report
                .labels
                .count(label, goes_to_cloud(before), goes_to_cloud(decision));
        }
        let spent = usage.get(&request);
        let add = |traffic: &mut Traffic, (bytes, tokens, cost): (f64, f64, f64)| {
            traffic.requests += 1;
            traffic.bytes += bytes;
            traffic.tokens += tokens;
            traffic.cost_usd += cost;
        };
        let actual = spent.map(|u| {
            (
                u.bytes as f64,
                (u.prompt_tokens + u.completion_tokens) as f64,
                u.cost_usd,
            )
        });
        if let Some(actual) = actual {
            add(&mut report.cloud_recorded, actual);
        }
        if goes_to_cloud(decision) {
            add(&mut report.cloud_projected, actual.unwrap_or(mean_usage));
        }
    }
    Ok(report.finish())
}

fn choice_name(choice: Choice) -> &'static str {
    match choice {
        Choice::Local => "local",
        Choice::Cloud => "cloud",
        Choice::Review => "review",
    }
}

/// Replay `merger` under `settings` over the merge records `filter` keeps,
/// each pair of answers judged against the policy's `schema`. Both tiers
/// answered those requests whatever the merger chooses, so the cloud
/// traffic stays what it was; "local" counts the answers kept local
/// (`local`, and `review`, which keeps the local answer flagged).
pub async fn merges(
    log: impl BufRead,
    filter: &Filter,
    merger: &Plugin,
    settings: &CallSettings,
    schema: &str,
    examples: usize,
) -> std::io::Result<Report> {
    let mut report = Report::default();
    for item in filter.scan(log) {
        let (record, _) = item?;
        report.decisions += 1;
        let pair = record
            .entry
            .recorded
            .as_ref()
            .and_then(|r| Some((candidate(&r["local"]).ok()?, candidate(&r["cloud"]).ok()?)));
        let Some((local, cloud)) = pair else {
            report.without_inputs += 1;
            continue;
        };
        report.replayed += 1;
        let decision = match merger.merge(&local, &cloud, schema, settings).await {
            Ok(d) => choice_name(d.choice),
            Err(_) => {
                report.failures += 1;
                "local"
            }
        };
        let before = record.entry.decision.as_str();
        report.count(&record, before, decision, |d| d != "cloud", examples);
    }
    Ok(report.finish())
}
