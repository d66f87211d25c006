//! Which directories manage a Windows machine: the Active Directory domain or workgroup that
//! `NetGetJoinInformation` reports, and the Microsoft Entra ID tenant the device joined (Windows keeps one
//! `CloudDomainJoin\JoinInfo\<certificate thumbprint>` key per join, naming its `TenantId`, and the tenant's
//! `DisplayName` under `CloudDomainJoin\TenantInfo\<tenant id>`). A machine in neither is managed by nobody, which is
//! what security managers look for. Pure: the probe calls the API and reads the keys, the tests hand over the same.

use std::collections::BTreeMap;

use muster_shared::v1::{Directory, EntraTenant};

use super::RegValue;

/// Below HKEY_LOCAL_MACHINE: one subkey per Entra ID join, and one per tenant with its name.
pub const JOIN_INFO: &str = r"SYSTEM\CurrentControlSet\Control\CloudDomainJoin\JoinInfo";
pub const TENANT_INFO: &str = r"SYSTEM\CurrentControlSet\Control\CloudDomainJoin\TenantInfo";

/// `NETSETUP_JOIN_STATUS` values `NetGetJoinInformation` reports with the name.
const WORKGROUP: u32 = 2;
const DOMAIN: u32 = 3;

/// The directory facts: `join` is `NetGetJoinInformation`'s status and name (the probe reports no directory at all
/// when that call fails), `joins` the values of each `JoinInfo` subkey, `tenant_names` each `TenantInfo` subkey's
/// values by its name.
pub fn directory(
    join: (u32, String),
    joins: &[BTreeMap<String, RegValue>],
    tenant_names: &BTreeMap<String, BTreeMap<String, RegValue>>,
) -> Directory {
    let text = |values: &BTreeMap<String, RegValue>, name: &str| {
        values.get(name).and_then(RegValue::text).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    };
    let (domain, workgroup) = match join {
        (DOMAIN, name) if !name.is_empty() => (Some(name), None),
        (WORKGROUP, name) if !name.is_empty() => (None, Some(name)),
        _ => (None, None),
    };
    let mut entra_tenants: Vec<EntraTenant> = Vec::new();
    for id in joins.iter().filter_map(|values| text(values, "TenantId")) {
        if entra_tenants.iter().any(|t| t.id.eq_ignore_ascii_case(&id)) {
            continue;
        }
        // The tenant key is named by the id; compare without case, as the registry does.
        let name = tenant_names
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(&id))
            .and_then(|(_, v)| text(v, "DisplayName"));
        entra_tenants.push(EntraTenant { id, name });
    }
    Directory { domain, workgroup, entra_tenants }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, RegValue> {
        pairs.iter().map(|(n, v)| (n.to_string(), RegValue::Sz(v.to_string()))).collect()
    }

    #[test]
    fn a_domain_a_workgroup_and_an_entra_tenant() {
        let none = BTreeMap::new();
        // What Wine's NetGetJoinInformation answers (captured with a mingw-w64 test program under Wine 8).
        assert_eq!(
            directory((2, "Workgroup".into()), &[], &none),
            Directory { workgroup: Some("Workgroup".into()), ..Directory::default() }
        );
        assert_eq!(
            directory((3, "CONTOSO".into()), &[], &none),
            Directory { domain: Some("CONTOSO".into()), ..Directory::default() }
        );
        // Hybrid joined: the domain and one tenant, named by its TenantInfo key (whose case may differ), listed once
        // however many join keys name it.
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let joins = [values(&[("TenantId", tenant), ("UserEmail", "a@contoso.com")]), values(&[("TenantId", tenant)])];
        let names = BTreeMap::from([(tenant.to_uppercase(), values(&[("DisplayName", "Contoso")]))]);
        assert_eq!(
            directory((3, "CONTOSO".into()), &joins, &names),
            Directory {
                domain: Some("CONTOSO".into()),
                workgroup: None,
                entra_tenants: vec![EntraTenant { id: tenant.into(), name: Some("Contoso".into()) }],
            }
        );
        // Entra joined only: NetGetJoinInformation says workgroup; a tenant without a TenantInfo key has no name.
        let cloud = directory((2, "WORKGROUP".into()), &joins[1..], &none);
        assert_eq!(cloud.entra_tenants, [EntraTenant { id: tenant.into(), name: None }]);
        // Unknown or unjoined status, a join key without a tenant: nothing is claimed.
        assert_eq!(directory((1, String::new()), &[values(&[("UserEmail", "x")])], &none), Directory::default());
        assert_eq!(directory((0, "Workgroup".into()), &[], &none), Directory::default());
    }
}
