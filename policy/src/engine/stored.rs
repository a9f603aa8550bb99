//! A record the store holds now, decided elsewhere: another gateway of the
//! fleet decided about a subscriber or an address this gateway serves, or
//! the store kept another decision than ours when two were made at once.
//! The engine takes it as it is and the kernel follows; nothing is written
//! (the record is already stored) and no transition is published (the
//! gateway that decided published it).

use super::{Engine, Outcome, Plan};
use crate::lifecycle::Host;

impl Engine {
    pub(super) fn stored(&mut self, host: Host, _plan: &mut Plan) -> Outcome {
        let subject = host.subject.clone();
        let changed = self.lifecycle.adopt(host);
        if changed {
            // An address range's record also decides what lies inside it;
            // `settle_kernel` looks there for every touched range.
            let addrs = self.addresses_of(&subject);
            self.touched.extend(addrs);
        }
        Outcome::Stored { subject, changed }
    }
}
