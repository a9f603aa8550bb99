//! Keys for features that are designed but not built yet.

use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde::{Serialize, Serializer};

/// A key whose feature is not built yet: whatever it holds is skipped, and
/// the load refuses the config with a message saying so (see [`not_yet`]),
/// so no operator believes a setting works that nothing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbuilt;

impl<'de> Deserialize<'de> for Unbuilt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Unbuilt)
    }
}

impl Serialize for Unbuilt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

/// The one wording for every refusal of an unbuilt feature: `what` is
/// "... is" or "... are", `fix` says what to do instead.
pub(crate) fn not_yet(what: &str, fix: &str) -> String {
    format!("{what} not available in this version; {fix}")
}
