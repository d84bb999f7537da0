//! What an organization's sync makes of each member's account, as a pure
//! function of the account as stored (if any) and what the sync decided:
//! enrol a new member (its derived external ID, the StackSet's role),
//! adopt an account registered by hand (it keeps its own role and
//! external ID), follow a move or a rename, mark a departure, welcome a
//! return. The same inputs give the same account, and an account already
//! as decided gives `None`: a repeated or concurrent sync writes nothing
//! twice.

use crate::account::{Account, AccountFields, Departure, DepartureReason, OrganizationLink};
use crate::actors::ORGANIZATION_SYNC;
use crate::organizations::{member_external_id, FilteredOut, Member, MemberState, Organization};
use crate::time::Timestamp;

/// What the sync decided for one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Target<'a> {
    /// Active and covered by the filters: enrolled, linked, verified.
    Covered(&'a Member),
    /// Left the organization or its filters.
    Departed(DepartureReason),
}

/// Why a member found by discovery is departed, if it is.
pub fn departure_of(member: &Member, admitted: Result<(), FilteredOut>) -> Option<DepartureReason> {
    match member.state {
        MemberState::Suspended => Some(DepartureReason::Suspended),
        MemberState::PendingClosure => Some(DepartureReason::PendingClosure),
        MemberState::Active if admitted.is_err() => Some(DepartureReason::FilteredOut),
        MemberState::Active => None,
    }
}

/// Where the members' role lives: the StackSet's role name in the
/// management role's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    pub partition: String,
    pub role_name: String,
}

impl MemberRole {
    pub fn arn(&self, account_id: &str) -> String {
        format!(
            "arn:{}:iam::{account_id}:role/{}",
            self.partition, self.role_name
        )
    }
}

/// The account as the sync wants it, or `None` when it is already so (or
/// is not this organization's to change: linked to another registration,
/// or a departure of an account never enrolled).
// Long: one match over (account as it is, as the organization wants it), case by case; the cases
// are the rule.
pub fn reconcile(
    current: Option<&Account>,
    organization: &Organization,
    account_id: &str,
    target: &Target<'_>,
    role: &MemberRole,
    now: Timestamp,
) -> Option<Account> {
    let link = |member: &Member, adopted: bool| OrganizationLink {
        organization_id: organization.organization_id.clone(),
        name: member.name.clone(),
        email: member.email.clone(),
        ou_path: member.ou_path.clone(),
        adopted,
    };
    let parent = (account_id != organization.management_account_id)
        .then(|| organization.management_account_id.clone());
    let next = match (current, target) {
        (None, Target::Covered(member)) => {
            let fields = AccountFields {
                name: display_name(member),
                owner_email: crate::validation::email("owner_email", &member.email)
                    .ok()
                    .map(|_| member.email.clone()),
                role_arn: Some(role.arn(account_id)),
                parent_account_id: parent,
                ..AccountFields::default()
            };
            let mut account =
                Account::register(account_id.to_string(), fields, ORGANIZATION_SYNC, now);
            account.external_id = member_external_id(&organization.external_id_prefix, account_id);
            // Mid-rotation, a newcomer's role (from the StackSet) trusts both.
            account.pending_external_id = organization
                .pending_external_id_prefix
                .as_deref()
                .map(|pending| member_external_id(pending, account_id));
            account.organization = Some(link(member, false));
            return Some(account);
        }
        (None, Target::Departed(_)) => return None,
        (Some(account), _)
            if account
                .organization
                .as_ref()
                .is_some_and(|link| link.organization_id != organization.organization_id) =>
        {
            return None
        }
        (Some(account), Target::Covered(member)) => {
            let mut next = account.clone();
            let adopted = account.organization.as_ref().is_none_or(|l| l.adopted);
            next.organization = Some(link(member, adopted));
            if account.organization.is_none() && next.fields.parent_account_id.is_none() {
                next.fields.parent_account_id = parent;
            }
            if next.departed.take().is_some() && next.fields.role_arn.is_some() {
                // Back in the fold: verified at once, as after a role change.
                next.credential.next_verification_at = Some(now);
            }
            // A pending ID of no live prefix (a rotation replaced or
            // cancelled as its members were written) is set right.
            if let Some(repaired) = repaired_rotation(Some(&next), organization, now) {
                next.pending_external_id = repaired.pending_external_id;
            }
            next
        }
        (Some(account), Target::Departed(reason)) => {
            if account.organization.is_none() || account.departed.is_some() {
                return None;
            }
            let mut next = account.clone();
            next.departed = Some(Departure {
                at: now,
                reason: *reason,
            });
            // Out of the due index: no verification while departed.
            next.credential.next_verification_at = None;
            next
        }
    };
    let current = current?;
    if &next == current {
        return None;
    }
    let mut next = next;
    next.version = current.version + 1;
    next.updated_at = now;
    next.updated_by = ORGANIZATION_SYNC.to_string();
    Some(next)
}

/// An enrolled member on the organization's current ID whose pending ID is
/// not the one the organization's rotation gives (a rotation replaced or
/// cancelled while its members were written): given the organization's
/// pending ID, or none. Adopted accounts, other organizations' and members
/// already promoted are left alone.
pub fn repaired_rotation(
    current: Option<&Account>,
    organization: &Organization,
    now: Timestamp,
) -> Option<Account> {
    let current = enrolled_here(current, organization)?;
    let id = current.account_id.as_str();
    if current.external_id != member_external_id(&organization.external_id_prefix, id) {
        return None;
    }
    let wanted = organization
        .pending_external_id_prefix
        .as_deref()
        .map(|pending| member_external_id(pending, id));
    with_pending(current, wanted, now)
}

/// The account when its organization's prefix rotation starts (`pending`
/// the new prefix) or is cancelled (`None`): an enrolled member on the
/// organization's current ID gets (or loses) the pending ID, which the
/// verifier promotes once the member's role verifies with it, as for any
/// account's rotation. Adopted accounts keep their own IDs and are left
/// alone, as is a member whose pending ID is already as wanted.
pub fn rotation(
    current: Option<&Account>,
    organization: &Organization,
    pending: Option<&str>,
    now: Timestamp,
) -> Option<Account> {
    let current = enrolled_here(current, organization)?;
    let id = current.account_id.as_str();
    let wanted = match pending {
        Some(pending) => {
            if current.external_id != member_external_id(&organization.external_id_prefix, id) {
                return None;
            }
            Some(member_external_id(pending, id))
        }
        // Cancel only what this organization's rotation set.
        None => {
            let ours = organization
                .pending_external_id_prefix
                .as_deref()
                .map(|pending| member_external_id(pending, id));
            if current.pending_external_id.is_none() || current.pending_external_id != ours {
                return None;
            }
            None
        }
    };
    with_pending(current, wanted, now)
}

/// The account when it is enrolled from `organization` and not adopted:
/// the members whose external IDs the organization's prefix makes.
fn enrolled_here<'a>(
    current: Option<&'a Account>,
    organization: &Organization,
) -> Option<&'a Account> {
    let current = current?;
    let link = current.organization.as_ref()?;
    (link.organization_id == organization.organization_id && !link.adopted).then_some(current)
}

/// The account with `wanted` as its pending external ID, written by the
/// organization's sync; `None` when it has it already.
fn with_pending(current: &Account, wanted: Option<String>, now: Timestamp) -> Option<Account> {
    if current.pending_external_id == wanted {
        return None;
    }
    let mut next = current.clone();
    next.pending_external_id = wanted;
    next.version = current.version + 1;
    next.updated_at = now;
    next.updated_by = ORGANIZATION_SYNC.to_string();
    Some(next)
}

/// The account once its organization's registration is deleted: an
/// ordinary account again, as if registered by hand. One that had
/// departed is archived instead (since its departure), so it stays out of
/// verification and scans until a caller unarchives or deletes it.
/// `None` for an account not linked to `organization_id`.
pub fn detach(current: Option<&Account>, organization_id: &str, now: Timestamp) -> Option<Account> {
    let current = current?;
    if current.organization.as_ref()?.organization_id != organization_id {
        return None;
    }
    let mut next = current.clone();
    next.organization = None;
    if let Some(departure) = next.departed.take() {
        next.archived_at = Some(departure.at);
    }
    next.version = current.version + 1;
    next.updated_at = now;
    next.updated_by = ORGANIZATION_SYNC.to_string();
    Some(next)
}

/// The account's display name: its Organizations name, cut to the 128
/// characters an account name may have, or its id when AWS gives none.
fn display_name(member: &Member) -> String {
    let name: String = member
        .name
        .chars()
        .filter(|c| !crate::validation::is_forbidden_char(*c))
        .take(128)
        .collect();
    // A name from AWS Organizations that mixes scripts is shown as the id.
    if crate::validation::display_name("name", &name, 128).is_ok() {
        name
    } else {
        member.account_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::organizations::Filters;

    fn organization() -> Organization {
        let mut organization = Organization::new(
            "Acme".into(),
            "111111111111".into(),
            "arn:aws:iam::111111111111:role/VendorOrgRead".into(),
            Filters::default(),
            "key",
            Timestamp::now(),
        );
        organization.organization_id = "01JD0000000000000000000004".into();
        organization.external_id_prefix = format!("{}-", "a".repeat(32));
        organization
    }

    fn member(id: &str, ou: &str) -> Member {
        Member {
            account_id: id.into(),
            name: format!("Member {id}"),
            email: format!("aws+{id}@example.com"),
            state: MemberState::Active,
            ou_path: vec![ou.into()],
            tags: Default::default(),
        }
    }

    fn role() -> MemberRole {
        MemberRole {
            partition: "aws".into(),
            role_name: "VendorAudit".into(),
        }
    }

    #[test]
    fn a_new_member_gets_its_derived_id_the_stackset_role_and_the_link() {
        let org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let account = reconcile(
            None,
            &org,
            &m.account_id,
            &Target::Covered(&m),
            &role(),
            Timestamp::now(),
        )
        .expect("enrolled");
        assert_eq!(
            account.external_id,
            format!("{}222222222222", org.external_id_prefix)
        );
        assert_eq!(
            account.fields.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/VendorAudit")
        );
        assert_eq!(
            account.fields.parent_account_id.as_deref(),
            Some("111111111111")
        );
        assert_eq!(
            account.fields.owner_email.as_deref(),
            Some("aws+222222222222@example.com")
        );
        assert_eq!(account.fields.name, "Member 222222222222");
        let link = account.organization.as_ref().unwrap();
        assert_eq!(link.ou_path, vec!["ou-ab12-cdef3456".to_string()]);
        assert!(!link.adopted);
        assert!(
            account.credential.next_verification_at.is_some(),
            "verified at once"
        );
        assert!(account.fields.validate(&account.account_id).is_ok());
        // The management account is its own parent's child: no parent.
        let management = member("111111111111", "r-ab12");
        let account = reconcile(
            None,
            &org,
            "111111111111",
            &Target::Covered(&management),
            &role(),
            Timestamp::now(),
        )
        .unwrap();
        assert_eq!(account.fields.parent_account_id, None);
    }

    #[test]
    fn an_account_registered_by_hand_is_adopted_and_keeps_its_role_and_id() {
        let org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let mut by_hand = Account::register(
            "222222222222".into(),
            AccountFields {
                name: "Payments".into(),
                role_arn: Some("arn:aws:iam::222222222222:role/Mine".into()),
                ..AccountFields::default()
            },
            "key",
            Timestamp::now(),
        );
        by_hand.version = 4;
        let adopted = reconcile(
            Some(&by_hand),
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            Timestamp::now(),
        )
        .unwrap();
        assert_eq!(adopted.external_id, by_hand.external_id);
        assert_eq!(adopted.fields.role_arn, by_hand.fields.role_arn);
        assert_eq!(adopted.fields.name, "Payments");
        assert_eq!(
            adopted.fields.parent_account_id.as_deref(),
            Some("111111111111")
        );
        assert!(adopted.organization.as_ref().unwrap().adopted);
        assert_eq!(adopted.version, 5);
        // Again: nothing to write.
        assert_eq!(
            reconcile(
                Some(&adopted),
                &org,
                "222222222222",
                &Target::Covered(&m),
                &role(),
                Timestamp::now()
            ),
            None
        );
        // Another registration does not take it over.
        let mut other = organization();
        other.organization_id = "01JD0000000000000000000005".into();
        assert_eq!(
            reconcile(
                Some(&adopted),
                &other,
                "222222222222",
                &Target::Covered(&m),
                &role(),
                Timestamp::now()
            ),
            None
        );
        assert_eq!(
            reconcile(
                Some(&adopted),
                &other,
                "222222222222",
                &Target::Departed(DepartureReason::Removed),
                &role(),
                Timestamp::now()
            ),
            None
        );
    }

    #[test]
    fn departure_leaves_the_due_index_and_a_return_comes_back_due() {
        let org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let now = Timestamp::now();
        let enrolled = reconcile(
            None,
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        let departed = reconcile(
            Some(&enrolled),
            &org,
            "222222222222",
            &Target::Departed(DepartureReason::Suspended),
            &role(),
            now,
        )
        .unwrap();
        assert_eq!(
            departed.departed.as_ref().unwrap().reason,
            DepartureReason::Suspended
        );
        assert_eq!(departed.credential.next_verification_at, None);
        assert!(departed.inactive().is_some());
        // Departing twice writes nothing; a departure of a stranger neither.
        assert_eq!(
            reconcile(
                Some(&departed),
                &org,
                "222222222222",
                &Target::Departed(DepartureReason::Removed),
                &role(),
                now
            ),
            None
        );
        let stranger = Account::register(
            "333333333333".into(),
            AccountFields {
                name: "x".into(),
                ..Default::default()
            },
            "key",
            now,
        );
        assert_eq!(
            reconcile(
                Some(&stranger),
                &org,
                "333333333333",
                &Target::Departed(DepartureReason::Removed),
                &role(),
                now
            ),
            None
        );
        let back = reconcile(
            Some(&departed),
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        assert_eq!(back.departed, None);
        assert_eq!(back.credential.next_verification_at, Some(now));
        assert_eq!(back.version, departed.version + 1);
    }

    #[test]
    fn a_move_or_rename_updates_the_link_only() {
        let org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let now = Timestamp::now();
        let enrolled = reconcile(
            None,
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        let mut moved = m.clone();
        moved.ou_path = vec!["ou-ab12-99999999".into()];
        moved.name = "Renamed".into();
        let next = reconcile(
            Some(&enrolled),
            &org,
            "222222222222",
            &Target::Covered(&moved),
            &role(),
            now,
        )
        .unwrap();
        assert_eq!(next.organization.as_ref().unwrap().ou_path, moved.ou_path);
        assert_eq!(next.organization.as_ref().unwrap().name, "Renamed");
        assert_eq!(next.fields, enrolled.fields, "the caller's fields stay");
        assert!(next.search_text().contains("ou-ab12-99999999"));
    }

    #[test]
    fn deleting_the_organization_detaches_and_archives_the_departed() {
        let org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let now = Timestamp::now();
        let enrolled = reconcile(
            None,
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        let plain = detach(Some(&enrolled), &org.organization_id, now).unwrap();
        assert_eq!(plain.organization, None);
        assert_eq!(plain.archived_at, None);
        assert_eq!(
            plain.external_id, enrolled.external_id,
            "its role keeps working"
        );
        let departed = reconcile(
            Some(&enrolled),
            &org,
            "222222222222",
            &Target::Departed(DepartureReason::Removed),
            &role(),
            now,
        )
        .unwrap();
        let archived = detach(Some(&departed), &org.organization_id, now).unwrap();
        assert_eq!(archived.departed, None);
        assert!(archived.archived_at.is_some());
        assert_eq!(detach(Some(&plain), &org.organization_id, now), None);
        assert_eq!(detach(Some(&enrolled), "another", now), None);
    }

    /// Issue 25 #6: a member left with the pending ID of a discarded
    /// prefix is set right by the next sync (and by the repair itself).
    #[test]
    fn a_sync_repairs_a_pending_id_of_no_live_prefix() {
        let mut org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let now = Timestamp::now();
        let enrolled = reconcile(
            None,
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        let mut stranded = enrolled.clone();
        stranded.pending_external_id = Some(format!("{}-222222222222", "d".repeat(32)));
        // No rotation pending: the stray pending ID goes.
        let repaired = reconcile(
            Some(&stranded),
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        assert_eq!(repaired.pending_external_id, None);
        // Another rotation pending: the member gets that one.
        let live = format!("{}-", "e".repeat(32));
        org.pending_external_id_prefix = Some(live.clone());
        let repaired = repaired_rotation(Some(&stranded), &org, now).unwrap();
        assert_eq!(
            repaired.pending_external_id,
            Some(format!("{live}222222222222"))
        );
        assert_eq!(repaired_rotation(Some(&repaired), &org, now), None, "once");
    }

    #[test]
    fn a_prefix_rotation_gives_enrolled_members_their_pending_id_and_a_cancel_takes_it_back() {
        let mut org = organization();
        let m = member("222222222222", "ou-ab12-cdef3456");
        let now = Timestamp::now();
        let enrolled = reconcile(
            None,
            &org,
            "222222222222",
            &Target::Covered(&m),
            &role(),
            now,
        )
        .unwrap();
        let pending = format!("{}-", "b".repeat(32));
        let rotating = rotation(Some(&enrolled), &org, Some(&pending), now).unwrap();
        assert_eq!(
            rotating.pending_external_id,
            Some(format!("{pending}222222222222"))
        );
        assert_eq!(
            rotating.external_id, enrolled.external_id,
            "the current ID stays in force"
        );
        assert_eq!(
            rotation(Some(&rotating), &org, Some(&pending), now),
            None,
            "once"
        );
        // A newcomer enrolled mid-rotation trusts both from the start.
        org.pending_external_id_prefix = Some(pending.clone());
        let newcomer = member("333333333333", "ou-ab12-cdef3456");
        let late = reconcile(
            None,
            &org,
            "333333333333",
            &Target::Covered(&newcomer),
            &role(),
            now,
        )
        .unwrap();
        assert_eq!(
            late.pending_external_id,
            Some(format!("{pending}333333333333"))
        );
        // Cancelled: the pending ID goes, the current one stays.
        let cancelled = rotation(Some(&rotating), &org, None, now).unwrap();
        assert_eq!(cancelled.pending_external_id, None);
        assert_eq!(cancelled.external_id, enrolled.external_id);
        // An adopted account keeps its own IDs.
        let mut adopted = enrolled.clone();
        adopted.organization.as_mut().unwrap().adopted = true;
        assert_eq!(rotation(Some(&adopted), &org, Some(&pending), now), None);
        // A member's own rotation (another pending ID) is not cancelled.
        let mut own = enrolled.clone();
        own.pending_external_id = Some("its-own-rotation".into());
        assert_eq!(rotation(Some(&own), &org, None, now), None);
    }

    #[test]
    fn departures_by_state_and_filter() {
        let mut m = member("222222222222", "ou-ab12-cdef3456");
        assert_eq!(departure_of(&m, Ok(())), None);
        assert_eq!(
            departure_of(&m, Err(FilteredOut::ExcludedAccount)),
            Some(DepartureReason::FilteredOut)
        );
        m.state = MemberState::PendingClosure;
        assert_eq!(
            departure_of(&m, Ok(())),
            Some(DepartureReason::PendingClosure)
        );
        m.state = MemberState::Suspended;
        assert_eq!(departure_of(&m, Ok(())), Some(DepartureReason::Suspended));
    }
}
