//! Enums that the destination stores as text (`status`, `error_category`, `triggered_by`, …).
//!
//! Each such enum has an inherent `as_str` (the stored text) and `parse`; the crate's
//! `stored_text!` macro adds what lets the rest of the code treat a value as the text it stands for: `Display`,
//! `Deref<Target = str>` (so `Option<ErrorCategory>::as_deref()` reads as the stored
//! `Option<&str>`), comparison with `&str`, and a `FromStr` whose error says which value was not
//! recognised. The store layer decodes every such column through `FromStr`, so an unknown stored
//! value is a decoding error naming the column and the value, never a silent default.
//!
//! This module imports nothing from the crate: every layer may use it.

/// A stored text that is not one of the values of the enum it should decode to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {what}")]
pub struct UnknownValue {
    /// What the text should have been (`execution status`, `error category`, …).
    pub what: &'static str,
    /// The text found.
    pub value: String,
}

/// An enum kept in the destination as one of a fixed set of texts.
pub trait StoredText: Copy + std::str::FromStr<Err = UnknownValue> {
    /// The stored text.
    fn as_stored(self) -> &'static str;
}

/// Implements [`StoredText`], `Display`, `Deref<Target = str>`, `PartialEq<str>`, `PartialEq<&str>`
/// and `FromStr` (with [`UnknownValue`]) for an enum with an inherent `as_str(self) -> &'static
/// str`; `$what` names the values in errors. Given the list of its variants, it also defines the
/// enum's `ALL` and `parse`; without it, the enum has its own `parse(&str) -> Option<Self>`.
macro_rules! stored_text {
    ($ty:ident, $what:literal, [$($variant:ident),+ $(,)?]) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// Parses a stored value.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        $crate::stored::stored_text!($ty, $what);
    };
    ($ty:ident, $what:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::ops::Deref for $ty {
            type Target = str;

            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl $crate::stored::StoredText for $ty {
            fn as_stored(self) -> &'static str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::stored::UnknownValue;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text).ok_or_else(|| $crate::stored::UnknownValue {
                    what: $what,
                    value: text.to_owned(),
                })
            }
        }
    };
}

pub(crate) use stored_text;
