//! `muster-collector findings …` and `rules …`: findings listed and triaged from the command line, rule files
//! validated before deployment, and the rule options of `serve`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::app::findings as app_findings;
use crate::cli::{Format, emit};
use crate::config::parse_duration;
use crate::findings::actions::TransitionRequest;
use crate::findings::{Action, FindingFilter, FindingKind, FindingSort, FindingView, Status};
use crate::rules::{PolicySource, RuleView, Rules, Severity};
use crate::store::Store;

/// Rule options of `serve` (and of `rules validate`).
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Directory of rule files (`*.toml`) adding to or overriding the built-in policy.
    #[arg(long, env = "MUSTER_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// endoflife.date product data (JSON) replacing the built-in end-of-life data.
    #[arg(long, env = "MUSTER_EOL_FILE")]
    pub eol_file: Option<PathBuf>,
}

impl RulesArgs {
    pub fn source(&self) -> PolicySource {
        PolicySource { policy_dir: self.policy_dir.clone(), eol_file: self.eol_file.clone(), eol_text: None }
    }

    /// Loads and validates the policy; the error names the file, rule and position.
    pub fn load(&self) -> anyhow::Result<Rules> {
        Rules::load(self.source()).context("loading the rules")
    }
}

/// The scheduled evaluation of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ScheduleArgs {
    /// How often the scheduled evaluation runs (staleness, end of life, risk-acceptance expiry), e.g. 15m, 1h. Each
    /// run evaluates the hosts whose time-based facts have moved since their last evaluation; the first run after
    /// start, and one after each rule reload, evaluates every host.
    #[arg(long, env = "MUSTER_EVALUATION_INTERVAL", default_value = "15m", value_parser = parse_duration)]
    pub evaluation_interval: Duration,
    /// Workers in this process evaluating the work stored reports queue (rules, package matching). `0` makes a
    /// replica that only stores reports, leaving the queue to the others on one PostgreSQL: its reports are
    /// answered as before and their findings wait until a collector with a worker runs. Four by default: a first
    /// report's evaluation waits on the database as much as it computes, and one worker left findings of a
    /// first-report wave trailing by half a minute (BENCHMARKS.md, evaluation off the request path).
    #[arg(long, env = "MUSTER_EVALUATION_WORKERS", default_value_t = 4,
        value_parser = clap::value_parser!(u8).range(0..=16))]
    pub evaluation_workers: u8,
    /// Advisory sources `serve` refreshes on its own, as `advisories update --source` (URLs or a mirror
    /// directory; comma-separated in the variable). None by default: nothing is fetched unless configured.
    #[arg(long = "advisory-source", env = "MUSTER_ADVISORY_SOURCES", value_delimiter = ',')]
    pub advisory_sources: Vec<String>,
    /// How often `serve` refreshes the advisory sources, e.g. 24h (the first refresh runs at start).
    #[arg(long, env = "MUSTER_ADVISORY_UPDATE_INTERVAL", default_value = "24h", value_parser = parse_duration)]
    pub advisory_update_interval: Duration,
    /// PEM certificates to trust for the advisory sources besides the system's.
    #[arg(long, env = "MUSTER_ADVISORY_CA_FILE")]
    pub advisory_ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check the policy files and end-of-life data; exits non-zero with file, rule and position on a mistake.
    Validate(RulesArgs),
    /// The rules the policy defines.
    List(RulesArgs),
}

#[derive(Debug, Subcommand)]
pub enum FindingsCommand {
    /// List findings, most severe first.
    List {
        #[arg(long, value_enum)]
        severity: Option<Severity>,
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Rule id.
        #[arg(long)]
        rule: Option<String>,
        /// Host id.
        #[arg(long)]
        host: Option<String>,
        /// Only overdue findings.
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// One finding with its history.
    Show { id: String },
    /// Acknowledge an open or reopened finding.
    Acknowledge {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Accept a finding's risk until an expiry; it reopens when the acceptance expires.
    AcceptRisk {
        id: String,
        #[arg(long)]
        reason: String,
        /// e.g. 90d.
        #[arg(long, conflicts_with = "expires_at", required_unless_present = "expires_at")]
        expires_in: Option<String>,
        /// RFC 3339 time.
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// Reopen an acknowledged or risk-accepted finding.
    Reopen {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A fixed-width table of findings; the subject (a fix's source package) tells apart rows of one rule.
pub fn render_table(findings: &[FindingView]) -> String {
    let mut out = format!(
        "{:<32}  {:<8}  {:<13}  {:<10}  {:<7}  {:<20}  {:<26}  {:<20}  {}\n",
        "ID", "SEVERITY", "STATUS", "DUE", "OVERDUE", "HOST", "RULE", "SUBJECT", "TITLE"
    );
    for f in findings {
        out.push_str(&format!(
            "{:<32}  {:<8}  {:<13}  {:<10}  {:<7}  {:<20}  {:<26}  {:<20}  {}\n",
            f.id,
            f.severity.as_str(),
            f.status.as_str(),
            f.due_at.format("%Y-%m-%d"),
            if f.overdue { "yes" } else { "" },
            cut(&f.hostname, 20),
            cut(&f.rule_id, 26),
            cut(&f.subject, 20),
            f.title
        ));
    }
    out
}

fn who() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_owned(),
    }
}

pub async fn run_findings(cmd: &FindingsCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    let now = Utc::now();
    let act =
        |id: &str, action: Action, comment: Option<String>, expires_at: Option<DateTime<Utc>>| TransitionRequest {
            finding_id: id.to_owned(),
            action,
            actor: who(),
            source_ip: None,
            at: now,
            comment,
            expires_at,
        };
    let done = |view: FindingView| -> anyhow::Result<()> {
        eprintln!("finding {} is now {}", view.id, view.status.as_str());
        emit(format, &view, &render_table(std::slice::from_ref(&view)))
    };
    match cmd {
        FindingsCommand::List { severity, status, rule, host, overdue, limit } => {
            anyhow::ensure!((1..=100_000).contains(limit), "--limit must be 1 to 100000");
            let filter = FindingFilter {
                severity: *severity,
                status: *status,
                rule_id: rule.clone(),
                host_id: host.clone(),
                kind: None::<FindingKind>,
                overdue: overdue.then_some(true),
                active: false,
                sort: FindingSort::Priority,
                descending: false,
                now,
                limit: *limit,
                offset: 0,
            };
            let page = store.list_findings(&filter).await?;
            if format == Format::Csv {
                print!("{}", crate::export::findings(&page.findings));
                return Ok(());
            }
            if page.total > page.findings.len() as i64 {
                eprintln!(
                    "showing {} of {} findings; narrow the filter or raise --limit",
                    page.findings.len(),
                    page.total
                );
            }
            emit(format, &page, &render_table(&page.findings))
        }
        FindingsCommand::Show { id } => {
            let finding = store.get_finding(id, now).await?.with_context(|| format!("no finding with id {id}"))?;
            let history = store.finding_history(id).await?;
            let mut text = render_table(std::slice::from_ref(&finding));
            for e in &finding.evidence {
                text.push_str(&format!("  evidence: {e}\n"));
            }
            for h in &history {
                text.push_str(&format!(
                    "  {}  {:<24} {} -> {}  by {}{}\n",
                    h.at.to_rfc3339(),
                    h.action,
                    h.from_status.map_or("-", Status::as_str),
                    h.to_status.as_str(),
                    h.actor,
                    h.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
                ));
            }
            emit(format, &serde_json::json!({ "finding": finding, "history": history }), &text)
        }
        FindingsCommand::Acknowledge { id, comment } => {
            done(app_findings::act(store, act(id, Action::Acknowledge, comment.clone(), None)).await?)
        }
        FindingsCommand::AcceptRisk { id, reason, expires_in, expires_at } => {
            let expires_at = match (expires_in, expires_at) {
                (Some(within), _) => {
                    let d = parse_duration(within).map_err(anyhow::Error::msg)?;
                    Some(now + chrono::Duration::from_std(d)?)
                }
                (None, at) => *at,
            };
            done(app_findings::act(store, act(id, Action::AcceptRisk, Some(reason.clone()), expires_at)).await?)
        }
        FindingsCommand::Reopen { id, comment } => {
            done(app_findings::act(store, act(id, Action::Reopen, comment.clone(), None)).await?)
        }
    }
}

pub fn run_rules(cmd: &RulesCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Validate(args) => {
            let policy = args.load()?.current();
            let text = format!(
                "policy valid: {} rules, {} end-of-life products, fingerprint {}\n",
                policy.rules.len(),
                policy.eol.product_count(),
                policy.fingerprint
            );
            let value = serde_json::json!({
                "valid": true,
                "rules": policy.rules.len(),
                "eol_products": policy.eol.product_count(),
                "fingerprint": policy.fingerprint,
            });
            emit(format, &value, &text)
        }
        RulesCommand::List(args) => {
            let policy = args.load()?.current();
            let rules: Vec<RuleView> = policy.rules.iter().map(RuleView::from).collect();
            let mut text = String::new();
            for r in &rules {
                text.push_str(&format!(
                    "{:<28} {:<8} {:>4}d  {}  ({})\n",
                    r.id,
                    r.severity.as_str(),
                    r.sla_days,
                    r.title,
                    r.origin
                ));
            }
            emit(format, &rules, &text)
        }
    }
}
