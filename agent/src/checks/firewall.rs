//! The `firewall.active` check: is inbound traffic filtered, by nftables, iptables, ufw or firewalld?
//!
//! Both rulesets are reduced to one model (chains, the input hook, drop/reject verdicts and jumps), so one rule
//! decides for both: some chain hooked at input drops by policy, or drops/rejects in a rule of its own or of a chain
//! it jumps to. Rules that only filter forwarded traffic (Docker's) do not make an input firewall.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use muster_shared::v1::Check;

use super::runtime::Runtime;
use super::{fail, not_applicable, pass, setting_lines, unknown};
use crate::root::{ErrorLog, SystemRoot};

const FIREWALL: &str = "firewall.active";
const NFT_BINARIES: [&str; 2] = ["/usr/sbin/nft", "/sbin/nft"];
const IPTABLES_SAVE: [&str; 4] =
    ["/usr/sbin/iptables-legacy-save", "/sbin/iptables-legacy-save", "/usr/sbin/iptables-save", "/sbin/iptables-save"];
/// How deep jumps from the input chain are followed.
const MAX_JUMPS: usize = 4;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    /// e.g. `inet filter` (nftables) or `filter` (iptables).
    pub table: String,
    pub name: String,
    pub input_hook: bool,
    pub policy_drop: bool,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub text: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Block,
    Jump(String),
    Other,
}

/// Parses `nft list ruleset` output (or an `nft -f` file in the same syntax).
pub(crate) fn parse_nft(text: &str) -> Vec<Chain> {
    enum Block {
        Table(String),
        Chain(usize),
        Other,
    }
    let mut chains: Vec<Chain> = Vec::new();
    let mut stack: Vec<Block> = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if opens > closes {
            let words: Vec<&str> = line.split_whitespace().collect();
            let table = stack.iter().rev().find_map(|b| match b {
                Block::Table(name) => Some(name.clone()),
                _ => None,
            });
            let block = match (words.first(), table) {
                (Some(&"table"), _) => Block::Table(words[1..words.len() - 1].join(" ")),
                (Some(&"chain"), Some(table)) if words.len() >= 3 => {
                    chains.push(Chain { table, name: words[1].to_string(), ..Chain::default() });
                    Block::Chain(chains.len() - 1)
                }
                _ => Block::Other,
            };
            stack.push(block);
            continue;
        }
        if closes > opens {
            stack.pop();
            continue;
        }
        let Some(Block::Chain(index)) = stack.last() else { continue };
        let chain = &mut chains[*index];
        if line.starts_with("type ") {
            chain.input_hook |= line.contains("type filter") && line.contains("hook input");
            chain.policy_drop |= line.contains("policy drop");
            continue;
        }
        if line.starts_with("policy ") {
            chain.policy_drop |= line.contains("policy drop");
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_end_matches(';')).collect();
        let verdict = if words.iter().any(|w| *w == "drop" || *w == "reject") {
            Verdict::Block
        } else if let Some(at) = words.iter().position(|w| *w == "jump" || *w == "goto") {
            words.get(at + 1).map_or(Verdict::Other, |target| Verdict::Jump(target.to_string()))
        } else {
            Verdict::Other
        };
        chain.rules.push(Rule { text: line.to_string(), verdict });
    }
    chains
}

/// Parses `iptables-save` output; only the `filter` table's chains matter for inbound filtering.
pub(crate) fn parse_iptables_save(text: &str) -> Vec<Chain> {
    let mut chains: Vec<Chain> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
            index.clear();
        } else if let Some(declaration) = line.strip_prefix(':') {
            let mut words = declaration.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let policy = words.next().unwrap_or("-");
            index.insert(name.clone(), chains.len());
            chains.push(Chain {
                table: table.clone(),
                input_hook: table == "filter" && name == "INPUT",
                policy_drop: policy == "DROP",
                name,
                rules: Vec::new(),
            });
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let Some(&chain) = words.first().and_then(|name| index.get(*name)) else { continue };
            let target = words.windows(2).find(|w| w[0] == "-j" || w[0] == "-g").map(|w| w[1]);
            let verdict = match target {
                Some("DROP" | "REJECT") => Verdict::Block,
                Some(target) if index.contains_key(target) => Verdict::Jump(target.to_string()),
                _ => Verdict::Other,
            };
            chains[chain].rules.push(Rule { text: line.to_string(), verdict });
        }
    }
    chains
}

/// Evidence that inbound traffic is filtered, empty when it is not.
pub(crate) fn input_filtering(source: &str, chains: &[Chain]) -> Vec<String> {
    let mut evidence = Vec::new();
    for chain in chains.iter().filter(|c| c.input_hook) {
        let at = format!("{source}: table {} chain {}", chain.table, chain.name);
        if chain.policy_drop {
            evidence.push(format!("{at}: policy drop"));
        } else if let Some(found) = blocking_rule(chains, chain, &mut BTreeSet::new(), 0) {
            evidence.push(format!("{at}: {found}"));
        }
    }
    evidence
}

fn blocking_rule(chains: &[Chain], chain: &Chain, seen: &mut BTreeSet<String>, depth: usize) -> Option<String> {
    if depth > MAX_JUMPS || !seen.insert(chain.name.clone()) {
        return None;
    }
    for rule in &chain.rules {
        match &rule.verdict {
            Verdict::Block => return Some(rule.text.clone()),
            Verdict::Jump(target) => {
                let next = chains.iter().find(|c| c.table == chain.table && &c.name == target)?;
                if let Some(found) = blocking_rule(chains, next, seen, depth + 1) {
                    return Some(format!("{} -> {found}", rule.text));
                }
            }
            Verdict::Other => {}
        }
    }
    None
}

/// `ENABLED=yes` in /etc/ufw/ufw.conf, with its line.
pub(crate) fn ufw_enabled(conf: &str) -> Option<String> {
    setting_lines(conf)
        .filter(|(_, line)| line.starts_with("ENABLED="))
        .last()
        .filter(|(_, line)| line.trim_start_matches("ENABLED=").trim_matches('"').eq_ignore_ascii_case("yes"))
        .map(|(number, line)| format!("/etc/ufw/ufw.conf:{number}: {line}"))
}

/// What the probes found, for the pure decision.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub evidence: Vec<String>,
    /// What was looked at and found open.
    pub examined: Vec<String>,
    /// Sources that could not be read, with why.
    pub unreadable: Vec<String>,
}

pub(crate) fn decide(observed: Observed) -> Check {
    if !observed.evidence.is_empty() {
        return pass(FIREWALL, observed.evidence);
    }
    if !observed.unreadable.is_empty() {
        return unknown(FIREWALL, observed.unreadable.join("; "));
    }
    fail(
        FIREWALL,
        observed.examined,
        "enable a host firewall that drops unsolicited inbound traffic (nftables, ufw or firewalld)",
    )
}

pub(crate) fn probe(root: &SystemRoot, runtime: &Runtime, _errors: &mut ErrorLog) -> Check {
    let Runtime::Live(facts) = runtime else {
        return not_applicable(FIREWALL, "needs the running system's ruleset; not available in --root mode");
    };
    let mut observed = Observed::default();
    if let Some(running) = facts.running(&["firewalld"], &["firewalld.service"]) {
        observed.evidence.push(format!("firewalld: {running}"));
    }
    if let Ok(conf) = root.read_to_string("/etc/ufw/ufw.conf")
        && let Some(enabled) = ufw_enabled(&conf)
        && facts.units.contains("ufw.service")
    {
        observed.evidence.push(format!("{enabled} and unit ufw.service active"));
    }
    match NFT_BINARIES.iter().find(|path| root.exists(path)) {
        Some(nft) => match run(root, nft, &["list", "ruleset"]) {
            Ok(text) => {
                let found = input_filtering("nftables", &parse_nft(&text));
                if found.is_empty() {
                    observed
                        .examined
                        .push("nftables ruleset: no drop policy or drop/reject rule on the input hook".into());
                }
                observed.evidence.extend(found);
            }
            Err(reason) => observed.unreadable.push(reason),
        },
        None => observed.examined.push("nft is not installed".into()),
    }
    let legacy_tables = root.read_to_string("/proc/net/ip_tables_names").unwrap_or_default();
    if legacy_tables.lines().any(|t| t.trim() == "filter") {
        match IPTABLES_SAVE.iter().find(|path| root.exists(path)) {
            Some(save) => match run(root, save, &["-t", "filter"]) {
                Ok(text) => {
                    let found = input_filtering("iptables", &parse_iptables_save(&text));
                    if found.is_empty() {
                        observed.examined.push("iptables (legacy) filter table: INPUT accepts everything".into());
                    }
                    observed.evidence.extend(found);
                }
                Err(reason) => observed.unreadable.push(reason),
            },
            None => {
                observed.unreadable.push("legacy iptables filter table loaded but no iptables-save to read it".into())
            }
        }
    } else {
        observed.examined.push("no legacy iptables filter table loaded".into());
    }
    decide(observed)
}

fn run(root: &SystemRoot, program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(root.path(program))
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|err| format!("{program}: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{program} {}: {}", args.join(" "), stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests;
