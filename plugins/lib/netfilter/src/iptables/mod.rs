//! The iptables driver: typed rules, `--noflush` restore scripts, a parser
//! of save/`-S` output, and a runner that applies a script in one exec per
//! family (ARCHITECTURE.md principle 1).

pub mod nftenc;
pub mod rule;
pub mod run;
pub mod save;
pub mod script;
pub mod syntax;

pub use rule::{CtStates, MULTIPORT_MAX, Rule, Table, Target};
pub use save::{Dump, SavedChain, SavedRule};
pub use script::RestoreScript;
