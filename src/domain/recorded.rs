//! Closed sets as records hold them.
//!
//! Audit records and outbox events name a presenter kind and a reason from
//! closed sets (the database checks them). During a rolling upgrade an
//! instance of the previous release reads rows a newer one wrote, whose
//! sets may have grown: such a value is kept as stored and passed on, never
//! refused, so the older instance's event follower and audit reads go on.

/// Declares a closed set: the enum, its stored names and [`Label::ALL`]
/// from one list, so no member can be left out of `ALL`.
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $stored:expr,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// The stored name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored,)+
                }
            }
        }

        impl $crate::domain::recorded::Label for $name {
            const ALL: &'static [Self] = &[$(Self::$variant,)+];

            fn as_str(self) -> &'static str {
                Self::as_str(self)
            }
        }
    };
}
pub(crate) use closed_set;

/// A member of a closed set with a stored name.
pub trait Label: Copy + 'static {
    /// Every member, in a fixed order.
    const ALL: &'static [Self];

    /// The stored name.
    fn as_str(self) -> &'static str;
}

/// A closed set's value as read from a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded<T> {
    /// A member this release knows.
    Known(T),
    /// A name a newer release wrote.
    Newer(String),
}

impl<T: Label> Recorded<T> {
    /// The member named `stored`, or the name kept as it is.
    #[must_use]
    pub fn from_stored(stored: &str) -> Self {
        T::ALL
            .iter()
            .find(|member| member.as_str() == stored)
            .map_or_else(
                || Self::Newer(stored.to_owned()),
                |member| Self::Known(*member),
            )
    }

    /// The stored name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(member) => member.as_str(),
            Self::Newer(name) => name,
        }
    }
}

impl<T> From<T> for Recorded<T> {
    fn from(member: T) -> Self {
        Self::Known(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::presenter::PresenterKind;
    use crate::domain::revocation::RevocationReason;

    #[test]
    fn every_member_reads_back_as_itself_and_an_unknown_name_is_kept() {
        for kind in PresenterKind::ALL {
            assert_eq!(Recorded::from_stored(kind.as_str()), Recorded::Known(*kind));
        }
        for reason in RevocationReason::ALL {
            assert_eq!(
                Recorded::from_stored(reason.as_str()),
                Recorded::Known(*reason)
            );
        }
        let newer = Recorded::<RevocationReason>::from_stored("a_later_reason");
        assert_eq!(newer, Recorded::Newer("a_later_reason".to_owned()));
        assert_eq!(newer.as_str(), "a_later_reason");
    }
}
