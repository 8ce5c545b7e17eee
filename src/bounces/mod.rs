//! The stage that reads returned mail: what a bounce, complaint or unsubscribe request says
//! ([`notice`]), how a failure's status code is judged ([`status`]), whether the mail is about
//! a message this list sent and to whom, and what to do about it ([`verdict`]), and the count
//! of soft bounces per address and issue ([`soft_bounces`]). `newsletter bounces`
//! ([`crate::commands::bounces`]) feeds it messages from [`crate::input::mailbox`] and writes
//! its decisions with [`crate::input::suppression`].

pub(crate) mod notice;
pub(crate) mod soft_bounces;
pub(crate) mod status;
pub(crate) mod verdict;
