//! The third stage: messages handed to the relay. The engine and its workers ([`engine`]), one
//! SMTP session each ([`smtp`]) to the relay named by a URL ([`relay`]), the pace they keep
//! ([`pace`]), the journal that makes a send resumable and never double ([`journal`]), and what
//! happened to each recipient ([`report`]).

pub mod engine;
pub mod journal;
pub mod pace;
pub mod relay;
pub mod report;
pub mod smtp;
