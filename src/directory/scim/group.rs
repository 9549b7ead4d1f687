//! A SCIM group as the directory stores it; `groups.rs` has what SCIM does with it.

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user's directory id.
    pub id: String,
    /// The user's `userName`, for `display`.
    pub user_name: Option<String>,
}

/// A group of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id: `grp_` and 22 base64url characters.
    pub id: String,
    /// Its name, as memberships and role mappings use it.
    pub display_name: String,
    /// The IdP's id for it.
    pub external_id: Option<String>,
    /// Its members, in id order (empty when loaded without them).
    pub members: Vec<Member>,
    /// When it was created.
    pub created_at_ms: u64,
    /// When it last changed.
    pub updated_at_ms: u64,
}
