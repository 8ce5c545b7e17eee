//! The third stage: messages handed to the relay. The engine and its workers ([`engine`]), one
//! SMTP session each ([`smtp`], reading replies strictly with [`reply`], secured by [`tls`]) to
//! the relay named by a URL ([`relay`]) or several sharing the work ([`relays`]), the pace they keep ([`pace`]), the journal that makes a send resumable and never double ([`journal`]), and what
//! happened to each recipient ([`report`]).

pub(crate) mod engine;
pub(crate) mod journal;
pub(crate) mod pace;
pub(crate) mod relay;
pub(crate) mod relays;
pub(crate) mod reply;
pub(crate) mod report;
pub(crate) mod smtp;
pub(crate) mod tls;
