//! Configuration versions: a configuration may say which version of the format it was written
//! for (`"version": 2`). When a gateway meets one older than its own, it refuses it and names
//! every change since, so that an upgrade never changes behaviour silently; one newer than its
//! own is refused too. Without `version`, the gateway's own is assumed (production configurations
//! should pin it: `npm run preflight` says so). CHANGELOG.md lists the same changes.

/// The version of the configuration format this gateway reads.
pub const CONFIG_VERSION: u32 = 2;

/// Each version's changes that can alter what an existing configuration does, oldest first.
pub const VERSION_CHANGES: &[(u32, &str)] = &[(
    2,
    "a route that adds the identity assertion now strips the caller's bearer Authorization header \
     before forwarding (forward_authorization defaults to \"strip\"); set forward_authorization: \
     \"keep\" on a route whose origin still needs it",
)];

/// `Ok` for the current version; otherwise what the operator must know, in one message.
pub fn check(version: u32) -> Result<(), String> {
    if version == CONFIG_VERSION {
        return Ok(());
    }
    if version == 0 {
        return Err(format!("versions start at 1; this gateway reads version {CONFIG_VERSION}"));
    }
    if version > CONFIG_VERSION {
        return Err(format!(
            "version {version} is newer than this gateway, which reads up to version {CONFIG_VERSION}: \
             upgrade the gateway"
        ));
    }
    let changes: Vec<String> = VERSION_CHANGES
        .iter()
        .filter(|(since, _)| *since > version)
        .map(|(since, change)| format!("in version {since}, {change}"))
        .collect();
    Err(format!(
        "this configuration is for version {version}, and this gateway reads version {CONFIG_VERSION}. \
         What changed: {}. Check the configuration against each change, then set \"version\": {CONFIG_VERSION}",
        changes.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_version_passes_and_others_say_why_not() {
        assert_eq!(check(CONFIG_VERSION), Ok(()));
        let old = check(1).unwrap_err();
        assert!(old.contains("in version 2, a route that adds the identity assertion"), "{old}");
        assert!(old.contains("set \"version\": 2"), "{old}");
        assert!(check(CONFIG_VERSION + 1).unwrap_err().contains("upgrade the gateway"));
        assert!(check(0).is_err());
    }

    #[test]
    fn every_change_names_a_version_this_gateway_knows() {
        let mut previous = 1;
        for (since, change) in VERSION_CHANGES {
            assert!(*since > previous && *since <= CONFIG_VERSION, "in order, after version 1: {since}: {change}");
            previous = *since;
        }
        assert_eq!(VERSION_CHANGES.last().map(|(v, _)| *v), Some(CONFIG_VERSION), "the newest version has a change");
    }
}
