//! The least-privilege rule: a child token never exceeds its parent in namespace, permissions,
//! lifetime or uses.

use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::{
    namespace::Namespace,
    permission::{PermissionSet, ADMIN, ISSUE},
    ttl::format_ttl,
};

/// The bounds of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// What it may touch.
    pub namespace: Namespace,
    /// What it may do.
    pub permissions: PermissionSet,
    /// When it dies; `None` never.
    pub expires_at: Option<OffsetDateTime>,
    /// Uses left; `None` unlimited.
    pub uses_remaining: Option<u32>,
    /// Whether it carries elevation (Unlock).
    pub elevated: bool,
}

/// What a caller asks for its child; `None` means "as much as allowed".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildRequest {
    /// Lifetime.
    pub ttl: Option<Duration>,
    /// Use limit.
    pub max_uses: Option<u32>,
    /// Namespace.
    pub namespace: Option<Namespace>,
    /// Permissions.
    pub permissions: Option<PermissionSet>,
}

/// A request for more than the parent holds. `field` names the request field at fault.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{reason}")]
pub struct PrivilegeExceeded {
    /// The field at fault: `namespace`, `permissions`, `ttl` or `max_uses`.
    pub field: &'static str,
    /// What was wrong, without any secret.
    pub reason: String,
}

fn exceeded(field: &'static str, reason: String) -> PrivilegeExceeded {
    PrivilegeExceeded { field, reason }
}

/// What a derived token never gets unless it names them: the rights to act on accounts and to mint
/// further tokens.
pub const NOT_INHERITED: [&str; 2] = [ADMIN, ISSUE];

/// Derives a child's grant from `parent`'s at `now`. Unasked bounds default to the parent's (the
/// lifetime to `default_ttl`, cut to the parent's expiry), except permissions: by default the
/// child gets the parent's minus `admin` and `issue` ([`NOT_INHERITED`]), which must be asked for
/// by name. Asked bounds beyond the parent's fail.
pub fn derive_child(
    parent: &Grant,
    request: &ChildRequest,
    now: OffsetDateTime,
    default_ttl: Duration,
) -> Result<Grant, PrivilegeExceeded> {
    let namespace = match &request.namespace {
        None => parent.namespace.clone(),
        Some(ns) if parent.namespace.contains(ns) => ns.clone(),
        Some(ns) => {
            return Err(exceeded(
                "namespace",
                format!(
                    "namespace {ns} is outside the caller's namespace {}",
                    parent.namespace
                ),
            ))
        }
    };
    let permissions = match &request.permissions {
        None => parent.permissions.without(&NOT_INHERITED),
        Some(p) if p.is_subset_of(&parent.permissions) => p.clone(),
        Some(p) => {
            let extra: Vec<String> = if p.to_vec().first().map(String::as_str) == Some("*") {
                vec!["*".into()]
            } else {
                p.iter()
                    .filter(|name| !parent.permissions.permits(name))
                    .map(str::to_owned)
                    .collect()
            };
            return Err(exceeded(
                "permissions",
                format!("the caller does not hold {}", extra.join(", ")),
            ));
        }
    };
    let expires_at = match (request.ttl, parent.expires_at) {
        (Some(ttl), Some(limit)) if now + ttl > limit => {
            return Err(exceeded(
                "ttl",
                format!(
                    "ttl {} outlives the caller's token, which expires in {}",
                    format_ttl(ttl),
                    format_ttl(limit - now)
                ),
            ))
        }
        (Some(ttl), _) => Some(now + ttl),
        (None, Some(limit)) => Some((now + default_ttl).min(limit)),
        (None, None) => Some(now + default_ttl),
    };
    let uses_remaining = match (request.max_uses, parent.uses_remaining) {
        (_, Some(0)) => {
            return Err(exceeded(
                "max_uses",
                "the caller's token has no uses left to pass on".into(),
            ))
        }
        (Some(asked), Some(left)) if asked > left => {
            return Err(exceeded(
                "max_uses",
                format!("max_uses {asked} exceeds the caller's {left} remaining uses"),
            ))
        }
        (Some(asked), _) => Some(asked),
        (None, left) => left,
    };
    Ok(Grant {
        elevated: parent.elevated && permissions.permits(ADMIN),
        namespace,
        permissions,
        expires_at,
        uses_remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn parent() -> Grant {
        Grant {
            namespace: Namespace::parse("deploy.").unwrap(),
            permissions: PermissionSet::only(["introspect", "issue"]),
            expires_at: Some(now() + Duration::hours(2)),
            uses_remaining: None,
            elevated: false,
        }
    }

    #[test]
    fn defaults_inherit_and_cut_to_the_parent() {
        let child = derive_child(
            &parent(),
            &ChildRequest::default(),
            now(),
            Duration::days(1),
        )
        .unwrap();
        assert_eq!(child.namespace, parent().namespace);
        assert_eq!(
            child.permissions,
            PermissionSet::only(["introspect"]),
            "issue is not inherited"
        );
        assert_eq!(
            child.expires_at,
            parent().expires_at,
            "default TTL is cut to the parent's expiry"
        );
        assert_eq!(child.uses_remaining, None);
    }

    #[test]
    fn narrower_requests_are_granted() {
        let req = ChildRequest {
            ttl: Some(Duration::minutes(15)),
            max_uses: Some(1),
            namespace: Some(Namespace::parse("deploy.daily").unwrap()),
            permissions: Some(PermissionSet::only(["introspect"])),
        };
        let child = derive_child(&parent(), &req, now(), Duration::hours(1)).unwrap();
        assert_eq!(child.expires_at, Some(now() + Duration::minutes(15)));
        assert_eq!(child.uses_remaining, Some(1));
        assert!(!child.permissions.permits("issue"));
    }

    #[test]
    fn every_broader_field_is_refused_and_named() {
        let field = |req: ChildRequest| {
            derive_child(&parent(), &req, now(), Duration::hours(1))
                .unwrap_err()
                .field
        };
        assert_eq!(
            field(ChildRequest {
                namespace: Some(Namespace::All),
                ..Default::default()
            }),
            "namespace"
        );
        assert_eq!(
            field(ChildRequest {
                namespace: Some(Namespace::parse("backup.").unwrap()),
                ..Default::default()
            }),
            "namespace"
        );
        assert_eq!(
            field(ChildRequest {
                permissions: Some(PermissionSet::only(["admin"])),
                ..Default::default()
            }),
            "permissions"
        );
        assert_eq!(
            field(ChildRequest {
                permissions: Some(PermissionSet::all()),
                ..Default::default()
            }),
            "permissions"
        );
        assert_eq!(
            field(ChildRequest {
                ttl: Some(Duration::hours(3)),
                ..Default::default()
            }),
            "ttl"
        );

        let limited = Grant {
            uses_remaining: Some(3),
            ..parent()
        };
        let err = derive_child(
            &limited,
            &ChildRequest {
                max_uses: Some(4),
                ..Default::default()
            },
            now(),
            Duration::hours(1),
        );
        assert_eq!(err.unwrap_err().field, "max_uses");
        let inherited = derive_child(
            &limited,
            &ChildRequest::default(),
            now(),
            Duration::hours(1),
        )
        .unwrap();
        assert_eq!(
            inherited.uses_remaining,
            Some(3),
            "a child of a limited token is limited too"
        );
        let spent = Grant {
            uses_remaining: Some(0),
            ..parent()
        };
        assert!(derive_child(&spent, &ChildRequest::default(), now(), Duration::hours(1)).is_err());
    }

    #[test]
    fn elevation_passes_only_with_admin() {
        let elevated = Grant {
            elevated: true,
            permissions: PermissionSet::all(),
            ..parent()
        };
        let narrow = ChildRequest {
            permissions: Some(PermissionSet::only(["introspect"])),
            ..Default::default()
        };
        assert!(
            !derive_child(&elevated, &narrow, now(), Duration::hours(1))
                .unwrap()
                .elevated
        );
        let default = derive_child(
            &elevated,
            &ChildRequest::default(),
            now(),
            Duration::hours(1),
        )
        .unwrap();
        assert!(
            !default.elevated && !default.permissions.permits(ADMIN),
            "admin is never inherited by default"
        );
        let asked = ChildRequest {
            permissions: Some(PermissionSet::only(["admin"])),
            ..Default::default()
        };
        assert!(
            derive_child(&elevated, &asked, now(), Duration::hours(1))
                .unwrap()
                .elevated
        );
    }
}
