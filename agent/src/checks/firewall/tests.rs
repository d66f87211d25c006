//! Firewall decisions over Debian's shipped nftables.conf and ufw rules files, and single-line variants of them.

use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Unknown};

use super::*;
use crate::checks::tests::{assert_check, assert_reason, edit, fixture};

const NFT_INPUT: &str = "\t\ttype filter hook input priority filter;";
const NFT_FORWARD: &str = "\t\ttype filter hook forward priority filter;";

#[test]
fn debian_default_nftables_conf_filters_nothing() {
    assert_eq!(input_filtering("nftables", &parse_nft(&fixture("debian12/nftables.conf"))), Vec::<String>::new());
}

#[test]
fn an_input_drop_policy_or_reject_rule_is_filtering() {
    let base = fixture("debian12/nftables.conf");
    let policy = edit(&base, NFT_INPUT, "\t\ttype filter hook input priority filter; policy drop;");
    assert_eq!(
        input_filtering("nftables", &parse_nft(&policy)),
        ["nftables: table inet filter chain input: policy drop"]
    );
    let rules = edit(
        &base,
        NFT_INPUT,
        "\t\ttype filter hook input priority filter;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t\treject with icmpx type admin-prohibited",
    );
    assert_eq!(
        input_filtering("nftables", &parse_nft(&rules)),
        ["nftables: table inet filter chain input: reject with icmpx type admin-prohibited"]
    );
}

#[test]
fn dropping_forwarded_traffic_only_is_not_an_input_firewall() {
    let docker_like = edit(
        &fixture("debian12/nftables.conf"),
        NFT_FORWARD,
        "\t\ttype filter hook forward priority filter; policy drop;",
    );
    assert!(input_filtering("nftables", &parse_nft(&docker_like)).is_empty());
}

#[test]
fn sets_inside_a_table_do_not_confuse_the_chain_parser() {
    let with_set = edit(
        &fixture("debian12/nftables.conf"),
        NFT_INPUT,
        "\t\ttype filter hook input priority filter;\n\t\tip saddr @blocklist jump blocked\n\t}\n\tset blocklist {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.1, 198.51.100.7 }\n\t}\n\tchain blocked {\n\t\tcounter drop",
    );
    assert_eq!(
        input_filtering("nftables", &parse_nft(&with_set)),
        ["nftables: table inet filter chain input: ip saddr @blocklist jump blocked -> counter drop"]
    );
}

#[test]
fn ufw_rules_filter_input_only_once_input_jumps_to_them() {
    let before = fixture("debian12/before.rules");
    assert!(input_filtering("iptables", &parse_iptables_save(&before)).is_empty());
    let hooked = edit(&before, ":ufw-before-input - [0:0]", ":INPUT ACCEPT [0:0]\n:ufw-before-input - [0:0]");
    let hooked = edit(&hooked, "COMMIT", "-A INPUT -j ufw-before-input\nCOMMIT");
    assert_eq!(
        input_filtering("iptables", &parse_iptables_save(&hooked)),
        [
            "iptables: table filter chain INPUT: -A INPUT -j ufw-before-input -> -A ufw-before-input -m conntrack --ctstate INVALID -j DROP"
        ]
    );
    let policy = edit(&before, ":ufw-before-input - [0:0]", ":INPUT DROP [0:0]\n:ufw-before-input - [0:0]");
    assert_eq!(
        input_filtering("iptables", &parse_iptables_save(&policy)),
        ["iptables: table filter chain INPUT: policy drop"]
    );
}

#[test]
fn ufw_enabled_flag() {
    let conf = fixture("debian12/ufw.conf");
    assert_eq!(ufw_enabled(&conf), None);
    assert_eq!(
        ufw_enabled(&edit(&conf, "ENABLED=no", "ENABLED=yes")).as_deref(),
        Some("/etc/ufw/ufw.conf:6: ENABLED=yes")
    );
}

#[test]
fn decisions() {
    let open = Observed {
        examined: vec!["nftables ruleset: no drop policy or drop/reject rule on the input hook".into()],
        ..Observed::default()
    };
    assert_check(&decide(open), Fail, &["nftables ruleset: no drop policy or drop/reject rule on the input hook"]);
    let denied = Observed {
        unreadable: vec!["/usr/sbin/nft list ruleset: Operation not permitted (you must be root)".into()],
        ..Observed::default()
    };
    assert_reason(&decide(denied), Unknown, "/usr/sbin/nft list ruleset: Operation not permitted (you must be root)");
    let mut errors = ErrorLog::new();
    assert_reason(
        &probe(&SystemRoot::mounted("/nonexistent"), &Runtime::NotLive, &mut errors),
        NotApplicable,
        "needs the running system's ruleset; not available in --root mode",
    );
}
